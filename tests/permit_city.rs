//! The HTTP tests of the permit workflow on the test city of tests/support/city.rs, in one test
//! binary: one link of the server instead of four, and their tests run side by side. Each module
//! is the file of its name beside this one.

#[macro_use]
mod support;

#[path = "support/city.rs"]
mod city;

mod dashboard;
mod open311;
mod permit_tiles;
mod queue;
