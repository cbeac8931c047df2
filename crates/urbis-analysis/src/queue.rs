//! The queues of the searches: which labelled node to expand next. Costs are never negative, so
//! the costs expanded never decrease, and two queues that use that serve:
//!
//! - [`Buckets`] (Dial's): bucket `b` holds the nodes whose cost lies in `[b·w, (b+1)·w)`, with
//!   `w` the smallest positive arc cost of the graph. An arc adds at least `w`, so no node of a
//!   bucket can improve another of the same bucket: the bucket's nodes may be expanded in any
//!   order, a push and a pop cost a few instructions, and only the nodes of the bucket are ever
//!   looked at. Used when the search has a finite limit that spans at most [`MAX_BUCKETS`]
//!   buckets. (Zero-cost arcs, or a sum rounded down into the current bucket, put a node back into
//!   the bucket being emptied; it is expanded again there, which keeps the labels exact.)
//! - [`Radix`]: a radix heap (the `radix-heap` crate) keyed by the cost in millionths, rounded down,
//!   for the other searches (no limit, or arcs too short for buckets).
//!
//! Both skip stale entries themselves: an entry whose cost is no longer its node's label.

use std::cmp::Reverse;

use radix_heap::RadixHeapMap;

/// Most buckets a search may use (4 bytes each).
pub const MAX_BUCKETS: f64 = (1u32 << 22) as f64;

/// What a search needs of its queue.
pub trait Frontier {
    /// Queues `node` at `cost` (never below the cost last popped).
    fn push(&mut self, cost: f64, node: u32);
    /// The next node to expand: the cheapest whose entry still holds its label's cost.
    fn pop(&mut self, labels: &[f64]) -> Option<usize>;
}

/// No entry.
const NONE: u32 = u32::MAX;

/// Dial's bucket queue over `[0, limit]`, the buckets as linked lists in one entry array, kept
/// between searches ([`Buckets::reset`]) so that a search allocates nothing.
#[derive(Default)]
pub struct Buckets {
    width: f64,
    /// The first entry of each bucket.
    head: Vec<u32>,
    /// (cost, node, next entry of the same bucket).
    entries: Vec<(f64, u32, u32)>,
    current: usize,
}

impl Buckets {
    /// Whether costs up to `limit` with arcs of at least `width` fit in [`MAX_BUCKETS`].
    pub fn fit(limit: f64, width: f64) -> bool {
        width > 0.0 && width.is_finite() && limit.is_finite() && limit >= 0.0 && limit / width < MAX_BUCKETS
    }

    /// Empties the queue for a search up to `limit` over arcs of at least `width` (see [`Self::fit`]).
    pub fn reset(&mut self, limit: f64, width: f64) {
        let count = (limit / width) as usize + 1;
        self.width = width;
        self.head.clear();
        self.head.resize(count, NONE);
        self.entries.clear();
        self.current = 0;
    }
}

impl Frontier for Buckets {
    #[inline]
    fn push(&mut self, cost: f64, node: u32) {
        // Division rounds monotonically: never before the bucket of the cost being expanded.
        let b = ((cost / self.width) as usize).clamp(self.current, self.head.len() - 1);
        let at = self.entries.len() as u32;
        self.entries.push((cost, node, self.head[b]));
        self.head[b] = at;
    }

    #[inline]
    fn pop(&mut self, labels: &[f64]) -> Option<usize> {
        loop {
            while self.head[self.current] == NONE {
                self.current += 1;
                if self.current == self.head.len() {
                    self.current -= 1;
                    return None;
                }
            }
            let (cost, node, next) = self.entries[self.head[self.current] as usize];
            self.head[self.current] = next;
            if cost == labels[node as usize] {
                return Some(node as usize);
            }
        }
    }
}

/// A search that runs on any [`Frontier`].
pub trait Search {
    type Output;
    fn run(self, queue: &mut impl Frontier) -> Self::Output;
}

thread_local! {
    /// This thread's buckets, kept between searches.
    static BUCKETS: std::cell::RefCell<Buckets> = std::cell::RefCell::default();
}

/// Runs `search` up to `limit` over arcs of at least `width` on this thread's buckets when they
/// fit ([`Buckets::fit`]; fresh ones if a search on this thread holds them), else on a radix heap.
pub fn run<S: Search>(limit: f64, width: f64, search: S) -> S::Output {
    if !Buckets::fit(limit, width) {
        return search.run(&mut Radix::default());
    }
    BUCKETS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buckets) => {
            buckets.reset(limit, width);
            search.run(&mut *buckets)
        }
        Err(_) => {
            let mut buckets = Buckets::default();
            buckets.reset(limit, width);
            search.run(&mut buckets)
        }
    })
}

/// A radix heap keyed by the cost in millionths, rounded down: a monotone map, so the keys popped
/// never decrease either; costs within one millionth come out in any order, and a node that one
/// of them then improves is queued and expanded again, so the labels are the exact `f64` ones.
#[derive(Default)]
pub struct Radix(RadixHeapMap<Reverse<u64>, u32>);

fn key(cost: f64) -> Reverse<u64> {
    Reverse((cost * 1e6) as u64)
}

impl Frontier for Radix {
    #[inline]
    fn push(&mut self, cost: f64, node: u32) {
        self.0.push(key(cost), node);
    }

    #[inline]
    fn pop(&mut self, labels: &[f64]) -> Option<usize> {
        while let Some((k, node)) = self.0.pop() {
            if k == key(labels[node as usize]) {
                return Some(node as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both queues give the nodes in the order of their costs (bucket by bucket for the buckets),
    /// skip stale entries, and end empty.
    #[test]
    fn the_queues_pop_in_cost_order_and_skip_stale_entries() {
        let mut labels = vec![5.0, 1.5, 0.2, 3.0, 9.9];
        let mut buckets = Buckets::default();
        assert!(Buckets::fit(10.0, 1.0) && !Buckets::fit(f64::INFINITY, 1.0) && !Buckets::fit(10.0, 0.0));
        buckets.reset(10.0, 1.0);
        let mut radix = Radix::default();
        for (node, &c) in labels.iter().enumerate() {
            buckets.push(c, node as u32);
            radix.push(c, node as u32);
        }
        // Node 0 improved to 2.5 after it was queued at 5.0: its old entry is stale.
        labels[0] = 2.5;
        buckets.push(2.5, 0);
        radix.push(2.5, 0);
        let drain = |q: &mut dyn Frontier| std::iter::from_fn(|| q.pop(&labels)).collect::<Vec<_>>();
        assert_eq!(drain(&mut radix), vec![2, 1, 0, 3, 4]);
        assert_eq!(drain(&mut buckets), vec![2, 1, 0, 3, 4]);
        assert_eq!(buckets.pop(&labels), None);
    }
}
