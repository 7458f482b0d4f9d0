//! Every agent in LLM mode against a mock model server (both wire formats), one file per
//! promise: an invalid answer gets one repair round with its errors and then the built-in
//! strategy; text from a model or a skill is data and cannot move the guardrails; in hybrid
//! mode both sources propose and the Critic decides; a model-written rule needs evidence.
//! One test binary for all of them, so the suite links it once.

mod evidence_or_no_rule;
mod hybrid_critic_picks;
mod injection_is_data;
mod repair_then_fallback;
mod request_snapshots;
mod support;
