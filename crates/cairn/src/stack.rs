//! Stacks written in Rust: a [`Stack`] collects resources built with the
//! typed builders, and typed [`Handle`]s make references that only exist
//! when the kind has that attribute.

use std::fmt;
use std::marker::PhantomData;

use cairn_engine::spec::{ParamSpec, ResourceOptions, ResourceSpec, StackSpec};
use cairn_engine::value::{Json, escape};
use serde::Serialize;

/// A resource kind as the builders see it.
pub trait Kind {
    /// `aws:sns:Topic`.
    const TYPE: &'static str;
    type Props: Serialize + Default;
}

/// A resource being built: its props plus lifecycle options.
#[derive(Clone, Debug)]
pub struct Builder<K: Kind> {
    pub(crate) props: K::Props,
    options: ResourceOptions,
    depends_on: Vec<String>,
}

impl<K: Kind> Default for Builder<K> {
    fn default() -> Self {
        Builder::from_props(K::Props::default())
    }
}

impl<K: Kind> Builder<K> {
    /// Starts from a full props value.
    pub fn from_props(props: K::Props) -> Self {
        Builder { props, options: ResourceOptions::default(), depends_on: Vec::new() }
    }
    /// Changes the props in place.
    #[must_use]
    pub fn with(mut self, f: impl FnOnce(&mut K::Props)) -> Self {
        f(&mut self.props);
        self
    }
    /// Orders this resource after another one it does not reference.
    #[must_use]
    pub fn depends_on<O: Kind>(mut self, other: &Handle<O>) -> Self {
        self.depends_on.push(other.id.clone());
        self
    }
    /// Leave it in AWS on destroy or removal, and forget it.
    #[must_use]
    pub fn retain(mut self) -> Self {
        self.options.retain = true;
        self
    }
    /// Refuse to delete or replace it.
    #[must_use]
    pub fn protect(mut self) -> Self {
        self.options.protect = true;
        self
    }
    /// Do not derive glue (policies, permissions) for it.
    #[must_use]
    pub fn no_auto_wire(mut self) -> Self {
        self.options.auto_wire = false;
        self
    }
}

/// A resource added to a stack; its attribute methods make references.
#[derive(Debug)]
pub struct Handle<K> {
    id: String,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Handle { id: self.id.clone(), _kind: PhantomData }
    }
}

impl<K> Handle<K> {
    pub fn id(&self) -> &str {
        &self.id
    }
    /// A reference to one of its attributes; the per-kind methods (`arn()`,
    /// `name()`, …) are the checked way to make one.
    pub(crate) fn attr(&self, attr: &str) -> Ref {
        Ref(format!("${{{}.{attr}}}", self.id))
    }
}

/// A reference (`${alerts.arn}`, `${param.email}`) usable wherever the
/// builders take text. Combine it with text through `format!` and [`Ref::text`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref(String);

impl Ref {
    /// The reference as template text, for building longer strings.
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl From<Ref> for String {
    fn from(r: Ref) -> String {
        r.0
    }
}

impl From<&Ref> for String {
    fn from(r: &Ref) -> String {
        r.0.clone()
    }
}

impl From<Ref> for Json {
    fn from(r: Ref) -> Json {
        Json::String(r.0)
    }
}

/// Literal text for a builder: escapes `${` so it is never read as a reference.
pub fn lit(s: &str) -> String {
    escape(s)
}

/// Pseudo values known once the account is.
pub mod pseudo {
    use super::Ref;
    pub fn region() -> Ref {
        Ref("${aws.region}".into())
    }
    pub fn account_id() -> Ref {
        Ref("${aws.account_id}".into())
    }
    pub fn partition() -> Ref {
        Ref("${aws.partition}".into())
    }
    pub fn stack_name() -> Ref {
        Ref("${stack.name}".into())
    }
}

/// A stack written in Rust.
#[derive(Clone, Debug)]
pub struct Stack {
    spec: StackSpec,
}

impl Stack {
    pub fn new(name: &str) -> Self {
        Stack { spec: StackSpec { name: name.to_string(), ..StackSpec::default() } }
    }
    /// The region, overriding the AWS chain's.
    pub fn region(&mut self, region: &str) -> &mut Self {
        self.spec.region = Some(region.to_string());
        self
    }
    /// How long the stack may live after each apply (`4h`, `2d`): every
    /// taggable resource is tagged `cairn:expires`, for `cairn sweep
    /// --expired`. `apply --ttl` overrides it.
    pub fn ttl(&mut self, ttl: &str) -> &mut Self {
        self.spec.ttl = Some(ttl.to_string());
        self
    }
    /// Where relative paths in props (a function's code directory) start;
    /// by default the working directory.
    pub fn base_dir(&mut self, dir: impl Into<std::path::PathBuf>) -> &mut Self {
        self.spec.base_dir = Some(dir.into());
        self
    }
    /// A tag for every taggable resource.
    pub fn tag(&mut self, key: &str, value: &str) -> &mut Self {
        self.spec.tags.insert(key.to_string(), value.to_string());
        self
    }
    /// A required parameter: given with `-p name=value` or `CAIRN_PARAM_NAME`.
    pub fn param(&mut self, name: &str, description: &str) -> Ref {
        self.declare(name, description, None)
    }
    /// A parameter with a default value.
    pub fn param_or(&mut self, name: &str, description: &str, default: impl Into<Json>) -> Ref {
        self.declare(name, description, Some(default.into()))
    }
    fn declare(&mut self, name: &str, description: &str, default: Option<Json>) -> Ref {
        let description = (!description.is_empty()).then(|| description.to_string());
        self.spec.parameters.insert(name.to_string(), ParamSpec { description, default, secret: false });
        Ref(format!("${{param.{name}}}"))
    }
    /// Adds a resource under `id` and returns its handle.
    pub fn add<K: Kind>(&mut self, id: &str, resource: Builder<K>) -> Handle<K> {
        let props = serde_json::to_value(&resource.props).unwrap_or(Json::Null);
        self.spec.resources.push(ResourceSpec {
            id: id.to_string(),
            kind: K::TYPE.to_string(),
            props,
            depends_on: resource.depends_on,
            options: resource.options,
            derived: false,
            derived_props: Default::default(),
        });
        Handle { id: id.to_string(), _kind: PhantomData }
    }
    /// Says that the resource state knows as `old` is now added as `new`:
    /// the plan shows "moved old -> new" and apply renames it in state,
    /// with no AWS call, instead of deleting and creating it. Keep the entry
    /// while any state may still hold `old`; once moved it does nothing.
    pub fn moved(&mut self, old: &str, new: &str) -> &mut Self {
        self.spec.moved.push(cairn_engine::spec::Moved { from: old.to_string(), to: new.to_string() });
        self
    }
    /// A value published after apply (`cairn output NAME`).
    pub fn output(&mut self, name: &str, value: impl Into<Json>) -> &mut Self {
        self.spec.outputs.push((name.to_string(), value.into()));
        self
    }
    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }
}

impl From<Stack> for StackSpec {
    fn from(s: Stack) -> StackSpec {
        s.spec
    }
}

impl From<&mut Stack> for StackSpec {
    fn from(s: &mut Stack) -> StackSpec {
        s.spec.clone()
    }
}

/// Declares the typed attribute methods of a kind's handle.
macro_rules! attributes {
    ($kind:ty: $($attr:ident),* $(,)?) => {
        impl $crate::stack::Handle<$kind> {
            $(
                #[doc = concat!("A reference to its `", stringify!($attr), "` attribute.")]
                pub fn $attr(&self) -> $crate::stack::Ref {
                    self.attr(stringify!($attr))
                }
            )*
        }
    };
}
pub(crate) use attributes;
