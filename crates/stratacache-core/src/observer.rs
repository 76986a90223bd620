//! [`KeyGenObserver`]: the hook through which a key builder reports how long each key took.
//!
//! It lives in the core so that the crate that builds keys (`stratacache-keys`, whose
//! `AiKeyBuilder::with_observer` takes one) and the crate that records the timings
//! (`stratacache-monitor`, whose `Monitor` implements it) both see it without depending on each
//! other. `stratacache-keys` re-exports it as `stratacache_keys::KeyGenObserver`.

use std::time::Duration;

/// Receives the time each key generation took, for monitoring (the reference system's "key
/// generation" statistics): `stratacache_keys::AiKeyBuilder::key` reports every key it built.
///
/// Called on the caller's thread after every successful key generation: keep it cheap.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// use stratacache_core::KeyGenObserver;
///
/// #[derive(Default)]
/// struct Longest(Mutex<Duration>);
///
/// impl KeyGenObserver for Longest {
///     fn on_key_generated(&self, duration: Duration, _text_len: usize) {
///         let mut longest = self.0.lock().unwrap();
///         *longest = (*longest).max(duration);
///     }
/// }
///
/// let observer = Longest::default();
/// observer.on_key_generated(Duration::from_micros(3), 12);
/// assert_eq!(*observer.0.lock().unwrap(), Duration::from_micros(3));
/// ```
pub trait KeyGenObserver: Send + Sync {
    /// A key was generated in `duration` for a text of `text_len` characters.
    fn on_key_generated(&self, duration: Duration, text_len: usize);
}
