//! The pure domain of the recovery engine: money, declines, network limits, campaigns, retry policy
//! and the case state machine. No I/O and no clock reads: `now` is always a parameter.

pub mod calendar;
pub mod campaign;
pub mod case;
mod case_facts;
mod case_plan;
mod case_retry;
mod case_types;
pub mod decline;
pub mod money;
pub mod network;
pub mod policy;
