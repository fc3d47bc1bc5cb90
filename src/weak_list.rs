//! A lock-free, append-only list of weak references: the caches of a
//! client (for metrics), the clients of the process (for `ck_shutdown`).
//! No lock means nothing can be left held across a fork.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Weak};

pub(crate) struct WeakList<T> {
    head: AtomicPtr<Node<T>>,
}

struct Node<T> {
    item: Weak<T>,
    next: *mut Node<T>,
}

impl<T> WeakList<T> {
    pub(crate) const fn new() -> Self {
        WeakList { head: AtomicPtr::new(std::ptr::null_mut()) }
    }

    pub(crate) fn push(&self, item: Weak<T>) {
        let node = Box::into_raw(Box::new(Node { item, next: std::ptr::null_mut() }));
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            // SAFETY: node is ours until published.
            unsafe { (*node).next = head };
            match self.head.compare_exchange(head, node, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// The items still referenced elsewhere.
    pub(crate) fn live(&self) -> Vec<Arc<T>> {
        let mut out = Vec::new();
        let mut p = self.head.load(Ordering::Acquire);
        // SAFETY: nodes are freed only in Drop (exclusive access).
        while let Some(n) = unsafe { p.as_ref() } {
            if let Some(c) = n.item.upgrade() {
                out.push(c);
            }
            p = n.next;
        }
        out
    }
}

impl<T> Drop for WeakList<T> {
    fn drop(&mut self) {
        let mut p = *self.head.get_mut();
        while !p.is_null() {
            // SAFETY: every node came from Box::into_raw in push.
            let n = unsafe { Box::from_raw(p) };
            p = n.next;
        }
    }
}

// SAFETY: the list hands out only Arc<T> clones of Weak<T> (Send + Sync
// when T is).
unsafe impl<T: Send + Sync> Send for WeakList<T> {}
unsafe impl<T: Send + Sync> Sync for WeakList<T> {}
