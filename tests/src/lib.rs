//! End-to-end tests live in `tests/`; this library holds no code. It compiles the examples of
//! the guides under `docs/` as doctests (`cargo test -p stratacache-e2e --doc`).

#[doc = include_str!("../../docs/writing-a-layer.md")]
mod writing_a_layer {}
