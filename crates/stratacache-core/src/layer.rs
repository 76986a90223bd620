//! Tower-style layers: wrappers that add behaviour to any [`Cache`](crate::Cache).
//!
//! A layer is configuration (`XxxLayer`, `Clone + Debug`) that builds a wrapper (`Xxx<C>`) around
//! an inner cache. Layers compose with [`LayerExt::layer`]:
//!
//! ```
//! use stratacache_core::{Identity, Layer, LayerExt, Stack};
//!
//! # fn demo<C: stratacache_core::Cache + 'static>(cache: C) {
//! // Both read outermost-last: `Identity` wraps `cache`.
//! let wrapped = cache.layer(Identity);
//! let stack = Stack::new(Identity, Identity);
//! let _twice = stack.layer(wrapped);
//! // An optional layer boxes the result either way.
//! let maybe: Option<Identity> = None;
//! let _boxed: Box<dyn stratacache_core::Cache> = maybe.layer(_twice);
//! # }
//! ```

/// Builds a wrapper around an inner cache.
pub trait Layer<C> {
    /// The wrapped cache.
    type Cache;

    /// Wraps `inner`.
    fn layer(&self, inner: C) -> Self::Cache;
}

/// `.layer(...)` on any cache: `cache.layer(a).layer(b)` puts `b` outermost.
pub trait LayerExt: crate::Cache + Sized {
    /// Wraps `self` in `layer`.
    fn layer<L: Layer<Self>>(self, layer: L) -> L::Cache {
        Layer::layer(&layer, self)
    }
}

impl<C: crate::Cache> LayerExt for C {}

/// The layer that does nothing: `Identity.layer(c)` is `c`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<C> Layer<C> for Identity {
    type Cache = C;

    fn layer(&self, inner: C) -> C {
        inner
    }
}

/// Two layers applied in order: `Stack::new(inner, outer)` wraps with `inner` first, then `outer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stack<Inner, Outer> {
    inner: Inner,
    outer: Outer,
}

impl<Inner, Outer> Stack<Inner, Outer> {
    /// Combines two layers; `inner` is applied first (closest to the backend).
    pub const fn new(inner: Inner, outer: Outer) -> Self {
        Self { inner, outer }
    }
}

impl<C, Inner, Outer> Layer<C> for Stack<Inner, Outer>
where
    Inner: Layer<C>,
    Outer: Layer<Inner::Cache>,
{
    type Cache = Outer::Cache;

    fn layer(&self, inner: C) -> Self::Cache {
        self.outer.layer(self.inner.layer(inner))
    }
}

impl<C, L: Layer<C>> Layer<C> for Option<L>
where
    L::Cache: crate::Cache + 'static,
    C: crate::Cache + 'static,
{
    type Cache = Box<dyn crate::Cache>;

    /// An optional layer: `Some(l)` wraps, `None` passes the cache through, both as a boxed cache.
    fn layer(&self, inner: C) -> Self::Cache {
        match self {
            Some(l) => Box::new(l.layer(inner)),
            None => Box::new(inner),
        }
    }
}
