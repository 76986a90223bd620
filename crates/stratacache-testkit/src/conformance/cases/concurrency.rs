//! Many tasks writing and reading one cache at once, with checksummed shared values.

use std::sync::Arc;

use stratacache_core::{Bytes, Ttl};

use super::{Ctx, Must, describe, panic_message, pseudo_random};

/// FNV-1a, 64 bits: the checksum of the concurrency case's shared values.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const TASKS: usize = 200;
const KEYS_PER_TASK: usize = 20;
const SHARED_KEYS: usize = 5;

fn private_value(task: usize, i: usize) -> Vec<u8> {
    let len = if i % 7 == 3 {
        4096 + (task * 13 + i * 31) % 4096
    } else {
        (task * 31 + i * 97) % 600
    };
    pseudo_random(((task as u64) << 32) | i as u64, len)
}

/// A shared-key value: `task=N;key=J;` + pseudo-random payload + FNV-1a of the rest (8 bytes LE).
fn shared_value(task: usize, key: usize) -> Vec<u8> {
    let mut v = format!("task={task};key={key};").into_bytes();
    v.extend(pseudo_random(
        0xABCD_0000 + (task * SHARED_KEYS + key) as u64,
        100 + (task * 37) % 3000,
    ));
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks a shared-key value: complete, uncorrupted and written by some task for this key.
fn check_shared(value: &[u8], key: usize) -> Result<usize, String> {
    let Some(split) = value.len().checked_sub(8) else {
        return Err(format!(
            "shared key {key} holds a {}-byte value, too short to be one written",
            value.len()
        ));
    };
    let (body, sum) = value.split_at(split);
    if fnv1a(body).to_le_bytes() != sum {
        return Err(format!(
            "shared key {key} holds a corrupted value (checksum mismatch, {} bytes)",
            value.len()
        ));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(32)]);
    let task = text
        .strip_prefix("task=")
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&t| t < TASKS)
        .ok_or_else(|| format!("shared key {key} holds a value with a bad header: {text:?}"))?;
    if value != shared_value(task, key) {
        return Err(format!(
            "shared key {key} holds a value claiming task {task} that differs from what it wrote"
        ));
    }
    Ok(task)
}

/// 200 tasks write, read back and overwrite concurrently; nothing is lost, torn or mixed up.
pub(crate) async fn concurrency(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let cache = Arc::clone(&cache);
        handles.push(tokio::spawn(async move {
            for i in 0..KEYS_PER_TASK {
                let key = format!("t{task}:k{i}");
                let value = Bytes::from(private_value(task, i));
                cache
                    .set(&key, value, Ttl::Never)
                    .await
                    .map_err(|e| format!("set({key:?}): {e}"))?;
                if i % 4 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for j in 0..SHARED_KEYS {
                let key = format!("shared:{j}");
                let value = Bytes::from(shared_value(task, j));
                cache
                    .set(&key, value, Ttl::Never)
                    .await
                    .map_err(|e| format!("set({key:?}): {e}"))?;
            }
            for i in 0..KEYS_PER_TASK {
                let key = format!("t{task}:k{i}");
                let got = cache.get(&key).await.map_err(|e| format!("get({key:?}): {e}"))?;
                if got.as_deref() != Some(private_value(task, i).as_slice()) {
                    let got = got.map(|v| describe(&v));
                    return Err(format!("get({key:?}) right after writing it returned {got:?}"));
                }
            }
            for j in 0..SHARED_KEYS {
                let key = format!("shared:{j}");
                match cache.get(&key).await.map_err(|e| format!("get({key:?}): {e}"))? {
                    Some(value) => check_shared(&value, j)?,
                    None => return Err(format!("get({key:?}) returned None after this task wrote it")),
                };
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors = Vec::new();
    for (task, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("task {task}: {e}")),
            Err(e) if e.is_panic() => errors.push(format!(
                "task {task} panicked: {}",
                panic_message(&*e.into_panic())
            )),
            Err(e) => errors.push(format!("task {task}: {e}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {TASKS} concurrent tasks failed; first ones:\n  {}",
        errors.len(),
        errors.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
    );

    let mut lost = Vec::new();
    for task in 0..TASKS {
        let keys: Vec<String> = (0..KEYS_PER_TASK).map(|i| format!("t{task}:k{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got = cache.get_many(&refs).await.must("get_many");
        for (i, value) in got.into_iter().enumerate() {
            if value.as_deref() != Some(private_value(task, i).as_slice()) {
                lost.push(format!("{}: {:?}", keys[i], value.map(|v| describe(&v))));
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} private keys do not read back what was written after all tasks finished; first ones:\n  {}",
        lost.len(),
        TASKS * KEYS_PER_TASK,
        lost.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
    );
    for j in 0..SHARED_KEYS {
        let key = format!("shared:{j}");
        let Some(value) = cache.get(&key).await.must("get") else {
            panic!("shared key {key:?} is missing after every task wrote it");
        };
        if let Err(e) = check_shared(&value, j) {
            panic!("{e}");
        }
    }
}
