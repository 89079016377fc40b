//! The AWS-agnostic core of cairn.
//!
//! A front end (YAML or Rust builders) produces a [`StackSpec`]. [`validate`]
//! checks it offline against a [`Registry`] of kinds, [`plan`] compares it with
//! the [`State`] and live reads, and [`exec`] carries the plan out with
//! bounded parallelism, writing state after every finished operation.

pub mod diag;
pub mod exec;
pub mod graph;
pub mod kind;
pub mod plan;
pub mod spec;
pub mod state;
pub mod tags;
pub mod validate;
pub mod value;

pub use diag::{At, Diagnostic, Diagnostics, PathSeg, Severity};
pub use kind::{Environment, Kind, Live, OpCtx, OpError, PropError, Provider, Registry, TypedKind};
pub use plan::{Plan, Step};
pub use spec::{ParamSpec, ResourceOptions, ResourceSpec, StackSpec};
pub use state::{ResourceState, State, StateBackend, StateStore};
pub use value::{Json, Ref, RefTarget};
