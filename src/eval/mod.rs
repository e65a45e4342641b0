//! The scorers behind `shopkeep eval`: each reads a development set, runs the service's own code
//! on it, and returns the figures the issues ask for. Nothing here changes how answers are made.

pub mod intents;
pub mod product_qa;
pub mod retrieval;
pub mod tau_retail;
