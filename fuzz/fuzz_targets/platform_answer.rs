#![no_main]
// The body lives in src/bodies.rs, shared with the stable seed-corpus test.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rectune_fuzz::platform_answer(data);
});
