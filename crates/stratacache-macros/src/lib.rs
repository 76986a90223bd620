#![doc = include_str!("../README.md")]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ImplItem, ItemImpl, Path, Token, parse_macro_input};

/// Forwards every `Cache` method the `impl` block does not write to the cache that the argument
/// names: a place of a type that implements `Cache`, with `self` in scope (a field,
/// `self.inner`; a pointee, `**self`; what a getter returns a reference to, `*self.inner()`).
/// Each forwarded method borrows it (`&self.inner`) and calls the same method on it.
///
/// Put it above `#[async_trait]`:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use stratacache_core::{Bytes, Cache, Result, async_trait, forward};
///
/// struct Counting<C> {
///     inner: C,
///     reads: AtomicU64,
/// }
///
/// #[forward(self.inner)]
/// #[async_trait]
/// impl<C: Cache> Cache for Counting<C> {
///     async fn get(&self, key: &str) -> Result<Option<Bytes>> {
///         self.reads.fetch_add(1, Ordering::Relaxed);
///         self.inner.get(key).await
///     }
/// }
/// ```
///
/// A method under `#[cfg(...)]` is refused: with the condition off it would be neither written
/// nor forwarded, and the trait's default would run instead.
///
/// ```compile_fail
/// use stratacache_core::{Bytes, Cache, Result, async_trait, forward};
///
/// struct Layer<C> {
///     inner: C,
/// }
///
/// #[forward(self.inner)]
/// #[async_trait]
/// impl<C: Cache> Cache for Layer<C> {
///     #[cfg(feature = "never")]
///     async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
///         self.inner.get_many(keys).await
///     }
/// }
/// ```
///
/// The generated code names `::stratacache_core`. Through the `stratacache` facade crate, say
/// where core is: `#[forward(self.inner, crate = stratacache)]`.
///
/// The forwarded methods return the wrapped cache's future itself: forwarding costs no
/// allocation and no extra poll. Every method is forwarded, including the batch operations
/// (`get_many`, `set_many`, `delete_many`) and `get_with_ttl`, whose trait defaults would
/// otherwise split a batch into single calls through this layer, and `close`.
#[proc_macro_attribute]
pub fn forward(attr: TokenStream, item: TokenStream) -> TokenStream {
    let target = parse_macro_input!(attr as Target);
    let mut block = parse_macro_input!(item as ItemImpl);
    let mut written = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(f) = item else { continue };
        if let Some(cfg) = f.attrs.iter().find(|a| a.path().is_ident("cfg")) {
            // With the condition off, the method would be neither written nor forwarded: the
            // trait's default would run silently (a batch split into single calls).
            return syn::Error::new_spanned(
                cfg,
                "#[forward]: a method under #[cfg] would be neither written nor forwarded when the \
                 condition is off; write it unconditionally (branch inside the body)",
            )
            .to_compile_error()
            .into();
        }
        written.push(f.sig.ident.unraw().to_string());
    }
    for (name, method) in methods(&target.cache, &target.krate) {
        if !written.iter().any(|w| w == name) {
            block.items.push(ImplItem::Verbatim(method));
        }
    }
    quote!(#block).into()
}

/// The attribute's arguments: the expression naming the wrapped cache, then optionally
/// `crate = path` (the path under which `stratacache-core` is reachable).
struct Target {
    cache: Expr,
    krate: Path,
}

impl Parse for Target {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "#[forward] needs the wrapped cache: #[forward(self.inner)], #[forward(**self)] or #[forward(*self.getter())]",
            ));
        }
        let cache = input.parse()?;
        let mut krate: Path = syn::parse_quote!(::stratacache_core);
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            krate = input.parse()?;
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error("expected `crate = path` after the wrapped cache"));
        }
        Ok(Self { cache, krate })
    }
}

/// Every method of `Cache`, each forwarding to `target`, in the form `#[async_trait]` gives trait
/// methods (a boxed `Send` future living as long as every borrowed argument), so that the
/// wrapped cache's future is returned as it is.
///
/// Adding a method to the `Cache` trait means adding it here; `stratacache-testkit`'s
/// `tests/forward.rs` calls every method through a forwarding layer and fails on one that is
/// missing.
fn methods(target: &Expr, core: &Path) -> Vec<(&'static str, Tokens)> {
    let fut = |output: Tokens| {
        quote! {
            ::core::pin::Pin<::std::boxed::Box<
                dyn ::core::future::Future<Output = #output> + ::core::marker::Send + 'async_trait
            >>
        }
    };
    let result = |t: Tokens| quote!(#core::Result<#t>);
    let one = |name: &str, ret: Tokens| {
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        quote! {
            #[inline]
            fn #ident<'life0, 'life1, 'async_trait>(&'life0 self, key: &'life1 str) -> #ret
            where 'life0: 'async_trait, 'life1: 'async_trait, Self: 'async_trait
            {
                #core::Cache::#ident(&(#target), key)
            }
        }
    };
    let batch = |name: &str, ret: Tokens| {
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        quote! {
            #[inline]
            fn #ident<'life0, 'life1, 'life2, 'async_trait>(
                &'life0 self,
                keys: &'life1 [&'life2 str],
            ) -> #ret
            where 'life0: 'async_trait, 'life1: 'async_trait, 'life2: 'async_trait, Self: 'async_trait
            {
                #core::Cache::#ident(&(#target), keys)
            }
        }
    };
    let plain = |name: &str, ret: Tokens| {
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        quote! {
            #[inline]
            fn #ident<'life0, 'async_trait>(&'life0 self) -> #ret
            where 'life0: 'async_trait, Self: 'async_trait
            {
                #core::Cache::#ident(&(#target))
            }
        }
    };
    let set = quote! {
        #[inline]
        fn set<'life0, 'life1, 'async_trait>(
            &'life0 self,
            key: &'life1 str,
            value: #core::Bytes,
            ttl: #core::Ttl,
        ) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #core::Result<()>> + ::core::marker::Send + 'async_trait
        >>
        where 'life0: 'async_trait, 'life1: 'async_trait, Self: 'async_trait
        {
            #core::Cache::set(&(#target), key, value, ttl)
        }
    };
    let set_many = quote! {
        #[inline]
        fn set_many<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            entries: &'life1 [(&'life2 str, #core::Bytes)],
            ttl: #core::Ttl,
        ) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #core::Result<()>> + ::core::marker::Send + 'async_trait
        >>
        where 'life0: 'async_trait, 'life1: 'async_trait, 'life2: 'async_trait, Self: 'async_trait
        {
            #core::Cache::set_many(&(#target), entries, ttl)
        }
    };
    let invalidate = quote! {
        #[inline]
        fn invalidate_pattern<'life0, 'life1, 'async_trait>(&'life0 self, pattern: &'life1 str)
            -> ::core::pin::Pin<::std::boxed::Box<
                dyn ::core::future::Future<Output = #core::Result<u64>> + ::core::marker::Send + 'async_trait
            >>
        where 'life0: 'async_trait, 'life1: 'async_trait, Self: 'async_trait
        {
            #core::Cache::invalidate_pattern(&(#target), pattern)
        }
    };
    let add_tags = quote! {
        #[inline]
        fn add_tags<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            key: &'life1 str,
            tags: &'life2 [&'life3 str],
            ttl: #core::Ttl,
        ) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #core::Result<()>> + ::core::marker::Send + 'async_trait
        >>
        where 'life0: 'async_trait, 'life1: 'async_trait, 'life2: 'async_trait, 'life3: 'async_trait,
            Self: 'async_trait
        {
            #core::Cache::add_tags(&(#target), key, tags, ttl)
        }
    };
    let remove_tagged = quote! {
        #[inline]
        fn remove_tagged<'life0, 'life1, 'async_trait>(&'life0 self, tag: &'life1 str)
            -> ::core::pin::Pin<::std::boxed::Box<
                dyn ::core::future::Future<Output = #core::Result<::std::vec::Vec<::std::string::String>>>
                    + ::core::marker::Send + 'async_trait
            >>
        where 'life0: 'async_trait, 'life1: 'async_trait, Self: 'async_trait
        {
            #core::Cache::remove_tagged(&(#target), tag)
        }
    };
    let lease = |name: &str| {
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        quote! {
            #[inline]
            fn #ident<'life0, 'life1, 'life2, 'async_trait>(
                &'life0 self,
                key: &'life1 str,
                holder: &'life2 str,
                duration: ::std::time::Duration,
            ) -> ::core::pin::Pin<::std::boxed::Box<
                dyn ::core::future::Future<Output = #core::Result<bool>> + ::core::marker::Send + 'async_trait
            >>
            where 'life0: 'async_trait, 'life1: 'async_trait, 'life2: 'async_trait, Self: 'async_trait
            {
                #core::Cache::#ident(&(#target), key, holder, duration)
            }
        }
    };
    let release_lease = quote! {
        #[inline]
        fn release_lease<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            key: &'life1 str,
            holder: &'life2 str,
        ) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #core::Result<bool>> + ::core::marker::Send + 'async_trait
        >>
        where 'life0: 'async_trait, 'life1: 'async_trait, 'life2: 'async_trait, Self: 'async_trait
        {
            #core::Cache::release_lease(&(#target), key, holder)
        }
    };
    vec![
        (
            "get",
            one("get", fut(result(quote!(::core::option::Option<#core::Bytes>)))),
        ),
        ("set", set),
        ("delete", one("delete", fut(result(quote!(bool))))),
        ("delete_many", batch("delete_many", fut(result(quote!(u64))))),
        ("exists", one("exists", fut(result(quote!(bool))))),
        (
            "ttl",
            one("ttl", fut(result(quote!(::core::option::Option<#core::Expiry>)))),
        ),
        (
            "get_with_ttl",
            one(
                "get_with_ttl",
                fut(result(
                    quote!(::core::option::Option<(#core::Bytes, #core::Expiry)>),
                )),
            ),
        ),
        (
            "get_many",
            batch(
                "get_many",
                fut(result(
                    quote!(::std::vec::Vec<::core::option::Option<#core::Bytes>>),
                )),
            ),
        ),
        ("set_many", set_many),
        ("invalidate_pattern", invalidate),
        ("clear", plain("clear", fut(result(quote!(()))))),
        ("add_tags", add_tags),
        ("acquire_lease", lease("acquire_lease")),
        ("renew_lease", lease("renew_lease")),
        ("release_lease", release_lease),
        ("remove_tagged", remove_tagged),
        ("health", plain("health", fut(quote!(#core::Health)))),
        ("stats", plain("stats", fut(quote!(#core::CacheStats)))),
        ("close", plain("close", fut(result(quote!(()))))),
    ]
}
