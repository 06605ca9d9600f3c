//! Values that many workloads and documents of a stream repeat, kept once.
//!
//! A chart repeats its labels and pod affinity in every release a stream
//! renders (1,400 copies of the same chart in the 100 MB benchmark
//! stream), and each document's description and each workload's summary
//! owned its copy: several hundred bytes of small strings each. [`share`]
//! hands out one `Arc` per value instead, found in a small cache of the
//! values this thread shared last. Used for documents' and pod templates'
//! labels and for pod affinity.
//!
//! Limits: the cache holds [`RECENT`] values per type and compares by
//! equality (k8s-openapi's types have no `Hash`), so a stream of more
//! distinct values than that, interleaved, shares less; it never shares a
//! value that differs, and costs at most [`RECENT`] comparisons a value.
//! What it keeps between runs of one thread is bounded by the same
//! number.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

/// How many recently shared values of each type a thread remembers.
pub(crate) const RECENT: usize = 32;

thread_local! {
    /// Per type: the values shared last, newest last.
    static CACHE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A value kept once: the `Arc` of an equal value this thread shared
/// recently, else a new one (remembered in its place).
pub(crate) fn share<T: PartialEq + ?Sized + 'static>(value: Arc<T>) -> Arc<T> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let at = match cache
            .iter()
            .position(|c| c.downcast_ref::<Vec<Arc<T>>>().is_some())
        {
            Some(at) => at,
            None => {
                cache.push(Box::new(Vec::<Arc<T>>::new()));
                cache.len() - 1
            }
        };
        let recent = cache[at]
            .downcast_mut::<Vec<Arc<T>>>()
            .expect("the entry of its type");
        if let Some(i) = recent.iter().position(|r| **r == *value) {
            let found = recent.remove(i);
            recent.push(Arc::clone(&found));
            return found;
        }
        if recent.len() == RECENT {
            recent.remove(0);
        }
        recent.push(Arc::clone(&value));
        value
    })
}

/// Label pairs kept once ([`share`]).
pub(crate) fn labels(pairs: Vec<(String, String)>) -> Arc<[(String, String)]> {
    share(Arc::from(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &str) -> Vec<(String, String)> {
        vec![("app".into(), v.into())]
    }

    #[test]
    fn equal_values_share_one_allocation_and_others_do_not() {
        let a = labels(pairs("api"));
        let b = labels(pairs("api"));
        let c = labels(pairs("web"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, *pairs("web"));
        // Another type has its own entries.
        let n = share(Arc::new(7_u32));
        assert!(Arc::ptr_eq(&n, &share(Arc::new(7_u32))));
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_the_oldest() {
        let first = labels(pairs("v0"));
        for i in 1..=RECENT {
            labels(pairs(&format!("v{i}")));
        }
        // "v0" was pushed out: an equal value gets its own allocation,
        // still equal.
        let again = labels(pairs("v0"));
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(first, again);
        // The newest are still there.
        let last = labels(pairs(&format!("v{RECENT}")));
        assert!(Arc::ptr_eq(&last, &labels(pairs(&format!("v{RECENT}")))));
    }
}
