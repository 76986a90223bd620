//! A scriptable [`Cache`] test double: [`ScriptedCache`] wraps any [`SharedCache`] and, per
//! operation kind, passes through, fails, hangs or delays, before or after the wrapped cache
//! answers, switchable at run time, counting and journaling calls.
//!
//! ```
//! # use std::sync::Arc;
//! # use stratacache_core::{Cache, ErrorKind, SharedCache};
//! # use stratacache_testkit::double::{Op, Script, ScriptedCache};
//! # async fn demo(inner: SharedCache) {
//! let cache = ScriptedCache::new(inner);
//! cache.script(Op::Get, Script::fail(ErrorKind::Connection, "redis is down"));
//! assert!(cache.get("k").await.is_err());
//! assert_eq!(cache.calls(Op::Get), 1);
//! cache.pass_all();
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stratacache_core::{
    Bytes, Cache, CacheStats, Error, ErrorKind, Expiry, Glob, Health, HealthStatus, Result, SharedCache, Ttl,
    async_trait,
};
use tokio::sync::watch;

/// A cache that holds nothing: reads miss, writes succeed and are dropped, removals remove
/// nothing, health is healthy (backend `"empty"`). The inner cache of a [`ScriptedCache`] when a
/// test needs only the script and the counts, not storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Empty;

#[async_trait]
impl Cache for Empty {
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }
    async fn set(&self, _: &str, _: Bytes, ttl: Ttl) -> Result<()> {
        ttl.check()
    }
    async fn delete(&self, _: &str) -> Result<bool> {
        Ok(false)
    }
    async fn exists(&self, _: &str) -> Result<bool> {
        Ok(false)
    }
    async fn ttl(&self, _: &str) -> Result<Option<Expiry>> {
        Ok(None)
    }
    async fn invalidate_pattern(&self, _: &str) -> Result<u64> {
        Ok(0)
    }
    async fn clear(&self) -> Result<()> {
        Ok(())
    }
    async fn add_tags(&self, _: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        stratacache_core::validate_tags(tags)?;
        ttl.check()
    }
    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        stratacache_core::validate_tag(tag)?;
        Ok(Vec::new())
    }
    async fn acquire_lease(&self, _: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)?;
        Ok(true)
    }
    async fn renew_lease(&self, _: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)?;
        Ok(false)
    }
    async fn release_lease(&self, _: &str, _: &str) -> Result<bool> {
        Ok(false)
    }
    async fn health(&self) -> Health {
        Health::healthy("empty")
    }
    async fn stats(&self) -> CacheStats {
        CacheStats::new("empty")
    }
}

/// An operation of the [`Cache`] trait, for scripting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`Cache::get`].
    Get,
    /// [`Cache::set`].
    Set,
    /// [`Cache::delete`].
    Delete,
    /// [`Cache::delete_many`].
    DeleteMany,
    /// [`Cache::exists`].
    Exists,
    /// [`Cache::ttl`].
    Ttl,
    /// [`Cache::get_with_ttl`].
    GetWithTtl,
    /// [`Cache::get_many`].
    GetMany,
    /// [`Cache::set_many`].
    SetMany,
    /// [`Cache::invalidate_pattern`].
    InvalidatePattern,
    /// [`Cache::clear`].
    Clear,
    /// [`Cache::add_tags`].
    AddTags,
    /// [`Cache::remove_tagged`].
    RemoveTagged,
    /// [`Cache::acquire_lease`].
    AcquireLease,
    /// [`Cache::renew_lease`].
    RenewLease,
    /// [`Cache::release_lease`].
    ReleaseLease,
    /// [`Cache::health`].
    Health,
    /// [`Cache::stats`].
    Stats,
}

impl Op {
    /// Every operation, in trait order: [`Op::DATA`], [`Op::LEASES`], then `health` and
    /// `stats`.
    pub const ALL: [Op; 18] = {
        let mut all = [Op::Health; 18];
        let mut i = 0;
        while i < Op::DATA.len() {
            all[i] = Op::DATA[i];
            i += 1;
        }
        let mut j = 0;
        while j < Op::LEASES.len() {
            all[i + j] = Op::LEASES[j];
            j += 1;
        }
        all[17] = Op::Stats;
        all
    };

    /// The lease operations (`acquire_lease`, `renew_lease`, `release_lease`).
    pub const LEASES: [Op; 3] = [Op::AcquireLease, Op::RenewLease, Op::ReleaseLease];

    /// The operations that read values (`get`, `get_with_ttl`, `get_many`, `exists`, `ttl`).
    pub const READS: [Op; 5] = [Op::Get, Op::GetWithTtl, Op::GetMany, Op::Exists, Op::Ttl];

    /// The operations that change data (`set`, `set_many`, `delete`, `delete_many`,
    /// `invalidate_pattern`, `clear`, `add_tags`, `remove_tagged`).
    pub const WRITES: [Op; 8] = [
        Op::Set,
        Op::SetMany,
        Op::Delete,
        Op::DeleteMany,
        Op::InvalidatePattern,
        Op::Clear,
        Op::AddTags,
        Op::RemoveTagged,
    ];

    /// The operations that remove data (`delete`, `delete_many`, `invalidate_pattern`, `clear`,
    /// `remove_tagged`).
    pub const REMOVALS: [Op; 5] = [
        Op::Delete,
        Op::DeleteMany,
        Op::InvalidatePattern,
        Op::Clear,
        Op::RemoveTagged,
    ];

    /// The data operations: [`Op::READS`] and [`Op::WRITES`], every operation but `health` and
    /// `stats`.
    pub const DATA: [Op; 13] = [
        Op::Get,
        Op::Set,
        Op::Delete,
        Op::DeleteMany,
        Op::Exists,
        Op::Ttl,
        Op::GetWithTtl,
        Op::GetMany,
        Op::SetMany,
        Op::InvalidatePattern,
        Op::Clear,
        Op::AddTags,
        Op::RemoveTagged,
    ];
}

/// A latch a test opens once: calls following [`Script::Hold`] on it wait until it is open,
/// whatever the scripts do meanwhile. Clones share the latch.
#[derive(Debug, Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Opens the gate: the calls held on it resume, later ones pass at once.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`Gate::open`] was called.
    #[must_use]
    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    async fn opened(&self) {
        // The sender lives in `self`: the channel cannot close while this waits.
        let _ = self.0.subscribe().wait_for(|open| *open).await;
    }
}

/// One call as the double saw it, in [`ScriptedCache::journal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The operation.
    pub op: Op,
    /// Its keys (one for single-key operations, the pattern for `invalidate_pattern`, none for
    /// `clear`, `health` and `stats`).
    pub keys: Vec<String>,
    /// The TTL of a write (`set`, `set_many`).
    pub ttl: Option<Ttl>,
}

/// What a call does once its script is resolved.
enum Outcome {
    Forward,
    Fail(ErrorKind, String),
    Degrade(String),
    Answer(Bytes),
}

/// What a scripted operation does.
#[derive(Debug, Clone, Default)]
pub enum Script {
    /// Forward to the wrapped cache (the default).
    #[default]
    Pass,
    /// Fail with an error of this kind and message. `health` answers
    /// [`HealthStatus::Unhealthy`] with the message; `stats` answers the default (empty)
    /// [`CacheStats`] with that backend name.
    Fail(ErrorKind, String),
    /// Pend until the script of this operation changes, then follow the new script (a call
    /// cancelled by the caller's timeout simply goes away).
    Hang,
    /// Wait this long, then forward.
    Delay(Duration),
    /// For `health`: answer [`HealthStatus::Degraded`] with this message (a backend serving from
    /// a fallback). Other operations forward.
    Degrade(String),
    /// For reads (`get`, `get_with_ttl`, `get_many`): answer these bytes for every key instead of
    /// what is stored (a backend that returns stale or foreign data). Other operations forward.
    Answer(Bytes),
    /// Pend until the gate opens, then forward; unlike [`Script::Hang`], re-scripting the
    /// operation does not release a held call, so one call can be held while later ones pass.
    Hold(Gate),
    /// Follow the inner script for calls whose key matches the glob (for batch operations: any
    /// of their keys; for `invalidate_pattern`: the pattern itself), and pass the others through.
    /// Operations without a key (`clear`, `health`, `stats`) always pass.
    ForKeys(Glob, Box<Script>),
    /// Forward first, then, once the wrapped cache answered with success, follow the inner script
    /// before returning its answer: [`Script::Hang`], [`Script::Hold`] and [`Script::Delay`] hold
    /// the answer back (the operation has taken effect, its caller does not know yet),
    /// [`Script::Fail`] replaces it by the error (an operation applied whose reply was lost).
    /// Other inner scripts, and `After` for `health` and `stats`, pass.
    After(Box<Script>),
}

impl Script {
    /// [`Script::Fail`] from anything string-like.
    #[must_use]
    pub fn fail(kind: ErrorKind, message: impl Into<String>) -> Self {
        Script::Fail(kind, message.into())
    }

    /// [`Script::ForKeys`]: `script` for keys matching the glob `keys`, pass for the rest.
    #[must_use]
    pub fn for_keys(keys: &str, script: Script) -> Self {
        Script::ForKeys(Glob::new(keys), Box::new(script))
    }

    /// [`Script::After`]: `script` once the wrapped cache answered.
    #[must_use]
    pub fn after(script: Script) -> Self {
        Script::After(Box::new(script))
    }

    /// The script a call with these keys follows in `phase`: `ForKeys` and `After` resolved.
    fn resolve(self, phase: Phase, keys: &[&str]) -> Script {
        match (self, phase) {
            (Script::ForKeys(glob, then), _) if keys.iter().any(|key| glob.matches(key)) => {
                then.resolve(phase, keys)
            }
            (Script::ForKeys(..), _) => Script::Pass,
            (Script::After(then), Phase::After) => match then.resolve(Phase::Before, keys) {
                Script::After(_) => Script::Pass,
                resolved => resolved,
            },
            (Script::After(_), Phase::Before) | (_, Phase::After) => Script::Pass,
            (other, Phase::Before) => other,
        }
    }
}

/// When a script applies: before the call is forwarded, or after the wrapped cache answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    After,
}

#[derive(Debug)]
struct State {
    scripts: Mutex<HashMap<Op, Script>>,
    journal: Mutex<Vec<Call>>,
    counts: HashMap<Op, AtomicU64>,
    changed: watch::Sender<u64>,
    /// Calls waiting in [`Script::Hang`] or [`Script::Hold`] now.
    held: watch::Sender<u64>,
}

/// Counts a call as held while it lives (a cancelled call stops counting when dropped).
struct HeldGuard<'a>(&'a watch::Sender<u64>);

impl<'a> HeldGuard<'a> {
    fn new(held: &'a watch::Sender<u64>) -> Self {
        held.send_modify(|n| *n += 1);
        Self(held)
    }
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A [`Cache`] that forwards to a wrapped [`SharedCache`] unless scripted otherwise, per
/// operation, at run time (see the [module documentation](self)). Clones share the scripts and
/// counters.
#[derive(Clone)]
pub struct ScriptedCache {
    inner: SharedCache,
    name: String,
    state: Arc<State>,
}

impl std::fmt::Debug for ScriptedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedCache")
            .field("name", &self.name)
            .field("scripts", &*self.state.scripts.lock().unwrap())
            .finish_non_exhaustive()
    }
}

impl ScriptedCache {
    /// Wraps `inner`; every operation passes through until scripted.
    #[must_use]
    pub fn new(inner: SharedCache) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            inner,
            name: "scripted".to_owned(),
            state: Arc::new(State {
                scripts: Mutex::new(HashMap::new()),
                journal: Mutex::new(Vec::new()),
                counts: Op::ALL.iter().map(|op| (*op, AtomicU64::new(0))).collect(),
                changed,
                held: watch::channel(0).0,
            }),
        }
    }

    /// Wraps `inner` in an `Arc`: [`ScriptedCache::new`] for an owned cache.
    #[must_use]
    pub fn wrap(inner: impl Cache + 'static) -> Self {
        Self::new(Arc::new(inner))
    }

    /// The backend name used in `health` and `stats` answers this double makes up itself
    /// (default `"scripted"`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// This double as a [`SharedCache`] (sharing scripts and counters with `self`).
    #[must_use]
    pub fn shared(&self) -> SharedCache {
        Arc::new(self.clone())
    }

    /// The wrapped cache.
    #[must_use]
    pub fn inner(&self) -> &SharedCache {
        &self.inner
    }

    /// Sets the script of `op`, for calls from now on and for calls hanging in it.
    pub fn script(&self, op: Op, script: Script) {
        self.state.scripts.lock().unwrap().insert(op, script);
        self.state.changed.send_modify(|n| *n += 1);
    }

    /// Sets the same script for each of `ops` (e.g. [`Op::ALL`], [`Op::READS`]).
    pub fn script_all(&self, ops: &[Op], script: &Script) {
        {
            let mut scripts = self.state.scripts.lock().unwrap();
            for op in ops {
                scripts.insert(*op, script.clone());
            }
        }
        self.state.changed.send_modify(|n| *n += 1);
    }

    /// Every operation fails with `kind` and `message` (a backend that is down).
    pub fn fail_all(&self, kind: ErrorKind, message: &str) {
        self.script_all(&Op::ALL, &Script::fail(kind, message));
    }

    /// Every operation hangs (a hung backend) until re-scripted.
    pub fn hang_all(&self) {
        self.script_all(&Op::ALL, &Script::Hang);
    }

    /// Every operation passes through again (hanging calls resume).
    pub fn pass_all(&self) {
        self.script_all(&Op::ALL, &Script::Pass);
    }

    /// The current script of `op`.
    #[must_use]
    pub fn script_of(&self, op: Op) -> Script {
        self.state
            .scripts
            .lock()
            .unwrap()
            .get(&op)
            .cloned()
            .unwrap_or_default()
    }

    /// How many times `op` was called (counted on entry, whatever the script).
    #[must_use]
    pub fn calls(&self, op: Op) -> u64 {
        self.state.counts[&op].load(Ordering::SeqCst)
    }

    /// Calls of these operations together (e.g. [`Op::DATA`]).
    #[must_use]
    pub fn calls_of(&self, ops: &[Op]) -> u64 {
        ops.iter().map(|op| self.calls(*op)).sum()
    }

    /// Calls of all operations together.
    #[must_use]
    pub fn total_calls(&self) -> u64 {
        self.calls_of(&Op::ALL)
    }

    /// How many calls wait in [`Script::Hang`] or [`Script::Hold`] now (before or after
    /// forwarding).
    #[must_use]
    pub fn held(&self) -> u64 {
        *self.state.held.borrow()
    }

    /// Waits until at least `n` calls are held ([`ScriptedCache::held`]): the point where a
    /// test stages its competing operation.
    pub async fn wait_held(&self, n: u64) {
        // The sender lives in `self.state`: the channel cannot close while this waits.
        let _ = self.state.held.subscribe().wait_for(|held| *held >= n).await;
    }

    /// Every call so far, in order of arrival (whatever its script): operation, keys, TTL.
    #[must_use]
    pub fn journal(&self) -> Vec<Call> {
        self.state.journal.lock().unwrap().clone()
    }

    /// Sets every counter back to zero and empties the journal.
    pub fn reset_calls(&self) {
        for count in self.state.counts.values() {
            count.store(0, Ordering::SeqCst);
        }
        self.state.journal.lock().unwrap().clear();
    }

    /// Counts and journals the call, then waits as scripted for a call on `keys`.
    async fn enter(&self, op: Op, keys: &[&str], ttl: Option<Ttl>) -> Outcome {
        self.state.counts[&op].fetch_add(1, Ordering::SeqCst);
        self.state.journal.lock().unwrap().push(Call {
            op,
            keys: keys.iter().map(|key| (*key).to_owned()).collect(),
            ttl,
        });
        self.follow(Phase::Before, op, keys).await
    }

    /// After the wrapped cache answered `answer` to `op` on `keys`: holds it back or replaces it
    /// by an error as scripted ([`Script::After`]).
    async fn leave<T>(&self, op: Op, keys: &[&str], answer: Result<T>) -> Result<T> {
        let answer = answer?;
        match self.follow(Phase::After, op, keys).await {
            Outcome::Fail(kind, message) => Err(Error::new(kind, message)),
            Outcome::Forward | Outcome::Degrade(_) | Outcome::Answer(_) => Ok(answer),
        }
    }

    /// Follows the script of `op` in `phase` until it lets the call go on.
    async fn follow(&self, phase: Phase, op: Op, keys: &[&str]) -> Outcome {
        let mut changed = self.state.changed.subscribe();
        // Counted as held from the first wait to the return, across re-checks: a script change
        // of another operation wakes the call without releasing it.
        let mut held = None;
        loop {
            match self.script_of(op).resolve(phase, keys) {
                Script::Pass => return Outcome::Forward,
                Script::Fail(kind, message) => return Outcome::Fail(kind, message),
                Script::Degrade(message) => return Outcome::Degrade(message),
                Script::Answer(bytes) => return Outcome::Answer(bytes),
                Script::Delay(delay) => {
                    drop(held.take());
                    tokio::time::sleep(delay).await;
                    return Outcome::Forward;
                }
                Script::Hold(gate) => {
                    held.get_or_insert_with(|| HeldGuard::new(&self.state.held));
                    gate.opened().await;
                    return Outcome::Forward;
                }
                Script::Hang => {
                    changed.borrow_and_update();
                    // Re-check after subscribing: a change between the read and here is not lost.
                    if !matches!(self.script_of(op).resolve(phase, keys), Script::Hang) {
                        continue;
                    }
                    held.get_or_insert_with(|| HeldGuard::new(&self.state.held));
                    if changed.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                // `resolve` never answers these.
                Script::ForKeys(..) | Script::After(_) => return Outcome::Forward,
            }
        }
    }

    /// [`Self::enter`] for an operation that is not a read: `Ok(())` to forward (answers and
    /// degradation do not apply), `Err` to fail.
    async fn guard(&self, op: Op, keys: &[&str], ttl: Option<Ttl>) -> Result<()> {
        match self.enter(op, keys, ttl).await {
            Outcome::Fail(kind, message) => Err(Error::new(kind, message)),
            Outcome::Forward | Outcome::Degrade(_) | Outcome::Answer(_) => Ok(()),
        }
    }

    /// [`Self::enter`] for a read: `Ok(None)` to forward, `Ok(Some(bytes))` to answer `bytes`.
    async fn read_guard(&self, op: Op, keys: &[&str]) -> Result<Option<Bytes>> {
        match self.enter(op, keys, None).await {
            Outcome::Fail(kind, message) => Err(Error::new(kind, message)),
            Outcome::Answer(bytes) => Ok(Some(bytes)),
            Outcome::Forward | Outcome::Degrade(_) => Ok(None),
        }
    }
}

#[stratacache_core::forward(self.inner)]
#[async_trait]
impl Cache for ScriptedCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(bytes) = self.read_guard(Op::Get, &[key]).await? {
            return Ok(Some(bytes));
        }
        self.leave(Op::Get, &[key], self.inner.get(key).await).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.guard(Op::Set, &[key], Some(ttl)).await?;
        self.leave(Op::Set, &[key], self.inner.set(key, value, ttl).await)
            .await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.guard(Op::Delete, &[key], None).await?;
        self.leave(Op::Delete, &[key], self.inner.delete(key).await).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.guard(Op::DeleteMany, keys, None).await?;
        self.leave(Op::DeleteMany, keys, self.inner.delete_many(keys).await)
            .await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.guard(Op::Exists, &[key], None).await?;
        self.leave(Op::Exists, &[key], self.inner.exists(key).await).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.guard(Op::Ttl, &[key], None).await?;
        self.leave(Op::Ttl, &[key], self.inner.ttl(key).await).await
    }
    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        if let Some(bytes) = self.read_guard(Op::GetWithTtl, &[key]).await? {
            return Ok(Some((bytes, Expiry::Never)));
        }
        self.leave(Op::GetWithTtl, &[key], self.inner.get_with_ttl(key).await)
            .await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if let Some(bytes) = self.read_guard(Op::GetMany, keys).await? {
            return Ok(vec![Some(bytes); keys.len()]);
        }
        self.leave(Op::GetMany, keys, self.inner.get_many(keys).await)
            .await
    }
    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
        self.guard(Op::SetMany, &keys, Some(ttl)).await?;
        self.leave(Op::SetMany, &keys, self.inner.set_many(entries, ttl).await)
            .await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.guard(Op::InvalidatePattern, &[pattern], None).await?;
        self.leave(
            Op::InvalidatePattern,
            &[pattern],
            self.inner.invalidate_pattern(pattern).await,
        )
        .await
    }
    async fn clear(&self) -> Result<()> {
        self.guard(Op::Clear, &[], None).await?;
        self.leave(Op::Clear, &[], self.inner.clear().await).await
    }
    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        self.guard(Op::AddTags, &[key], Some(ttl)).await?;
        self.leave(Op::AddTags, &[key], self.inner.add_tags(key, tags, ttl).await)
            .await
    }
    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        self.guard(Op::RemoveTagged, &[tag], None).await?;
        self.leave(Op::RemoveTagged, &[tag], self.inner.remove_tagged(tag).await)
            .await
    }
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        self.guard(Op::AcquireLease, &[key], None).await?;
        let taken = self.inner.acquire_lease(key, holder, duration).await;
        self.leave(Op::AcquireLease, &[key], taken).await
    }
    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        self.guard(Op::RenewLease, &[key], None).await?;
        let renewed = self.inner.renew_lease(key, holder, duration).await;
        self.leave(Op::RenewLease, &[key], renewed).await
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        self.guard(Op::ReleaseLease, &[key], None).await?;
        let released = self.inner.release_lease(key, holder).await;
        self.leave(Op::ReleaseLease, &[key], released).await
    }
    async fn health(&self) -> Health {
        match self.enter(Op::Health, &[], None).await {
            Outcome::Forward | Outcome::Answer(_) => self.inner.health().await,
            Outcome::Fail(_, message) => {
                Health::new(self.name.clone(), HealthStatus::Unhealthy).with_message(message)
            }
            Outcome::Degrade(message) => {
                Health::new(self.name.clone(), HealthStatus::Degraded).with_message(message)
            }
        }
    }
    async fn stats(&self) -> CacheStats {
        match self.enter(Op::Stats, &[], None).await {
            Outcome::Fail(..) => CacheStats::new(self.name.clone()),
            _ => self.inner.stats().await,
        }
    }
}
