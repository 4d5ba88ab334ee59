//! Stream prefix reassembly: arbitrary push sequences (wrap-around, overlaps, gaps),
//! checking the invariants the dissectors rely on.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use whohosts::flow::reassembly::{Budget, StreamPrefix};

#[derive(Arbitrary, Debug)]
struct Push {
    seq: u32,
    payload: Vec<u8>,
    syn: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    direction_budget: u16,
    global_budget: u16,
    pushes: Vec<Push>,
}

fuzz_target!(|input: Input| {
    let mut budget = Budget::new(u64::from(input.global_budget));
    let mut p = StreamPrefix::new(usize::from(input.direction_budget));
    for (i, push) in input.pushes.iter().enumerate() {
        let before = p.contiguous().to_vec();
        p.push(&mut budget, push.seq, &push.payload, push.syn, i as u64);
        // The prefix only grows, never rewrites what was seen, and stays within caps.
        assert!(p.contiguous().starts_with(&before));
        assert!(p.len() <= usize::from(input.direction_budget));
        assert!(p.len() as u64 <= u64::from(input.global_budget));
        // Every byte names a frame.
        if !p.is_empty() {
            assert!(p.frame_at(p.len() - 1).is_some());
            assert!(!p.frames_of(0..p.len()).is_empty());
        }
    }
});
