//! Locking that survives poisoning: the tables behind these locks hold no
//! invariant a panicking holder could break halfway, so a poisoned lock is
//! used as is rather than turned into a second panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
