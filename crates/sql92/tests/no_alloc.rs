//! `Selector::matches` runs on the broker's pull path once per candidate message, so it must
//! not allocate: values are compared as borrowed strings and numbers are converted on the fly.
//! This binary counts the allocations its own thread makes while evaluating.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use courier_sql92::{Encoded, Selector};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread local, which needs no allocation to access.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn matches_does_not_allocate() {
    let selectors: Vec<Selector> = [
        "a > 5 AND region = 'east'",
        "a = 5 OR a = 5.0 OR a = 3000000000 OR b = TRUE",
        "a BETWEEN 1 AND 10 AND a NOT BETWEEN 3.5 AND 4",
        "region IN ('east', 'west', 'north', 'south', 'x', 'y') AND b NOT IN ('z')",
        "region CONTAINS 'as' AND region STARTSWITH 'e' AND region NOT ENDSWITH 'q'",
        "(a IS NOT NULL AND missing IS NULL) OR NOT (b = 'x')",
        "a >= b AND -a IS NULL AND c = d AND NOT region",
        "a > 5 OR a = 'abc'",
        "b > 5 OR TRUE",
    ]
    .iter()
    .map(|t| Selector::parse(t).unwrap())
    .collect();
    let encoded = "region\u{1}east\u{2}a\u{1}7\u{2}b\u{1}true\u{2}c\u{1}1e1\u{2}d\u{1}10";
    let map: HashMap<String, String> = [("region", "east"), ("a", "7"), ("b", "true")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let pairs = [("region", "east"), ("a", "0x1p3"), ("b", " 9 ")];
    let mut results = Vec::with_capacity(3 * selectors.len());
    let n = allocations_during(|| {
        for s in &selectors {
            results.push(s.matches(&Encoded(encoded)));
            results.push(s.matches(&map));
            results.push(s.matches(&pairs));
        }
    });
    assert_eq!(n, 0, "matches allocated {n} times");
    // The counter works, and the evaluations did something.
    assert!(allocations_during(|| drop(Selector::parse("a = 1").unwrap())) > 0);
    assert!(results.iter().any(|&m| m) && results.iter().any(|&m| !m));
}
