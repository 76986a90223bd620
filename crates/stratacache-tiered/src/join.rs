//! Running a batch of futures concurrently, a bounded number at a time, without a runtime
//! dependency.

use std::pin::Pin;
use std::task::Poll;

/// A boxed future, as `async_trait` methods return them.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls `futures` concurrently, at most `limit` at a time, and returns their outputs in input
/// order.
pub(crate) async fn join_bounded<T>(futures: Vec<BoxFuture<'_, T>>, limit: usize) -> Vec<T> {
    let total = futures.len();
    let limit = limit.max(1);
    let mut waiting = futures.into_iter().enumerate();
    let mut running: Vec<(usize, BoxFuture<'_, T>)> = Vec::with_capacity(limit.min(total));
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    let mut finished = 0;
    std::future::poll_fn(move |cx| {
        loop {
            while running.len() < limit {
                match waiting.next() {
                    Some(next) => running.push(next),
                    None => break,
                }
            }
            let mut progressed = false;
            let mut i = 0;
            while i < running.len() {
                if let Poll::Ready(output) = running[i].1.as_mut().poll(cx) {
                    let (index, _) = running.swap_remove(i);
                    results[index] = Some(output);
                    finished += 1;
                    progressed = true;
                } else {
                    i += 1;
                }
            }
            if finished == total {
                return Poll::Ready(std::mem::take(&mut results).into_iter().flatten().collect());
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keeps_order_and_bounds_concurrency() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let futures: Vec<BoxFuture<'_, usize>> = (0..40usize)
            .map(|i| {
                let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                Box::pin(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis((40 - i) as u64 % 7)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 10
                }) as BoxFuture<'_, usize>
            })
            .collect();
        let out = join_bounded(futures, 8).await;
        assert_eq!(out, (0..40).map(|i| i * 10).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=8).contains(&peak), "peak concurrency {peak}");
        assert!(join_bounded(Vec::<BoxFuture<'_, ()>>::new(), 8).await.is_empty());
    }
}
