//! The password-hashing pool: every Argon2 hash or verification runs here, on blocking threads
//! behind a semaphore sized to the cores, so slow hashes never stall the async workers and at
//! most that many run at once however many requests ask.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why hashing work did not finish.
#[derive(Debug, thiserror::Error)]
#[error("the hashing pool failed: {0}")]
pub struct PoolError(String);

/// A bounded pool for Argon2 work, shared by an [`crate::App`]'s clones.
#[derive(Debug)]
pub struct HashingPool {
    permits: Arc<Semaphore>,
    size: usize,
    operations: AtomicU64,
}

impl HashingPool {
    /// A pool that runs at most `size` batches at once (at least one).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            operations: AtomicU64::new(0),
        }
    }

    /// A pool with one slot per core the process may use.
    pub fn sized_to_cores() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// How many batches may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Hashes and verifications run so far (each batch counts the `operations` it declared),
    /// so tests can check that work happened without timing it.
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// Runs `work`, which performs `operations` Argon2 hashes or verifications, on a blocking
    /// thread once a slot is free; waits (without blocking the runtime) while the pool is full.
    pub async fn run<T, F>(&self, operations: u64, work: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PoolError(e.to_string()))?;
        self.operations.fetch_add(operations, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|e| PoolError(e.to_string()))
    }
}

impl Default for HashingPool {
    fn default() -> Self {
        Self::sized_to_cores()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_holds_further_batches_until_a_slot_frees() {
        let pool = Arc::new(HashingPool::new(2));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let mut releases = Vec::new();
        let mut batches = Vec::new();
        for n in 0..3 {
            let (release, hold) = std::sync::mpsc::channel::<()>();
            releases.push(release);
            let (shared, started) = (pool.clone(), started.clone());
            batches.push(tokio::spawn(async move {
                shared
                    .run(1, move || {
                        started.send(n).expect("the test listens");
                        hold.recv().expect("released");
                    })
                    .await
                    .expect("ran");
            }));
            if n == 1 {
                let mut first_two = [starts.recv().await, starts.recv().await];
                first_two.sort_unstable();
                assert_eq!(first_two, [Some(0), Some(1)]);
                assert_eq!(pool.permits.available_permits(), 0, "the pool is full");
            }
        }
        // The third batch only starts once one of the first two has finished.
        releases[0].send(()).expect("batch 0 waits");
        assert_eq!(starts.recv().await, Some(2));
        releases[1].send(()).expect("batch 1 waits");
        releases[2].send(()).expect("batch 2 waits");
        for batch in batches {
            batch.await.expect("joined");
        }
        assert_eq!(pool.operations(), 3);
        assert_eq!(pool.permits.available_permits(), 2);
    }
}
