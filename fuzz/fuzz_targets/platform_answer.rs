#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rectune_fuzz::platform_answer(data));
