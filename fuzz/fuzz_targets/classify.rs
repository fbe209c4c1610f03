#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| res_pjsip_multireg_fuzz::fuzz_targets::classify(data));
