//! The permit workflow's rules, pure: the stages a dossier moves through ([`stage`]), the city's
//! working days ([`calendar`]) and the statutory clock they drive ([`clock`]), the hash chain that
//! makes a dossier's history tamper-evident ([`chain`]), and the automatic parcel check ([`check`]).
//! Stores and the server call these; nothing here reads a clock, a file or a database.

pub mod blds;
pub mod calendar;
pub mod chain;
pub mod check;
pub mod clock;
pub mod dashboard;
pub mod stage;

pub use calendar::{CalendarError, WorkingCalendar};
pub use chain::{BrokenLink, ChainError};
pub use check::{ParcelCheck, Proposal, UseStatus};
pub use clock::{ClockPolicy, ClockStatus, DayOwner, StatutoryClock};
pub use stage::{Decision, Stage, TransitionError};
