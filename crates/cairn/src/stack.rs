//! Stacks written in Rust: a [`Stack`] collects resources, each made with
//! its kind's own builder type (`sqs::Queue::new().visibility_timeout(60)`),
//! and the [`Handle`] that adding one returns makes typed references to its
//! attributes: [`Arn`], [`Url`], [`Name`] and [`Id`] of that kind, which fit
//! only the setters that take them. A queue's URL given where its ARN is
//! needed does not compile:
//!
//! ```compile_fail,E0308
//! use cairn::{Stack, iam, lambda, sqs};
//!
//! let mut stack = Stack::new("wiring");
//! let jobs = stack.add("jobs", sqs::Queue::new());
//! let role = stack.add("role", iam::Role::trusted_by(&["lambda.amazonaws.com"]));
//! let worker = stack.add("worker", lambda::Function::inline("python3.13", "index.handler", role.arn(), "..."));
//! // `source` takes an `Arn<sqs::Queue>`: `jobs.arn()`, not `jobs.url()`.
//! stack.add("trigger", lambda::EventSourceMapping::new(worker.arn(), jobs.url()));
//! ```
//!
//! Nor does a queue's URL as an SNS subscription's SQS endpoint:
//!
//! ```compile_fail,E0308
//! use cairn::{Stack, sns, sqs};
//!
//! let mut stack = Stack::new("wiring");
//! let jobs = stack.add("jobs", sqs::Queue::new());
//! let topic = stack.add("alerts", sns::Topic::new());
//! stack.add("to-jobs", sns::Subscription::sqs(topic.arn(), jobs.url()));
//! ```
//!
//! Numbers and booleans take a literal or a typed [`Param`] of the same type.

use std::fmt;
use std::marker::PhantomData;

pub use cairn_engine::spec::StateEncryption;
use cairn_engine::spec::{ParamSpec, ParamType, ResourceOptions, ResourceSpec, StackSpec, StateSpec};
use cairn_engine::value::{Json, escape};
use serde::Serialize;

/// What every kind's builder type is to a [`Stack`]: its type name, and its
/// props and lifecycle options once built.
pub trait Resource {
    /// `aws:sns:Topic`.
    const TYPE: &'static str;
    /// The props as JSON (typed parameters in place) and the options.
    fn into_parts(self) -> (Json, Common);
}

/// What every builder holds besides its kind's props: the lifecycle options,
/// explicit dependencies, and the props that take a [`Param`].
#[derive(Clone, Debug, Default)]
pub struct Common {
    options: ResourceOptions,
    depends_on: Vec<String>,
    /// JSON pointer into the props, and the parameter reference written there.
    params: Vec<(String, String)>,
}

impl Common {
    /// The value a typed setter stores: a literal as it is, or for a
    /// parameter a placeholder that [`Common::finish`] replaces by the
    /// parameter's reference at `pointer`.
    pub(crate) fn value<T: Default>(&mut self, pointer: &str, value: Value<T>) -> T {
        self.params.retain(|(p, _)| p != pointer);
        match value {
            Value::Literal(v) => v,
            Value::Param(text) => {
                self.params.push((pointer.to_string(), text));
                T::default()
            }
        }
    }
    /// The props as the stack records them.
    pub(crate) fn finish<P: Serialize>(self, props: &P) -> (Json, Common) {
        let mut json = serde_json::to_value(props).unwrap_or(Json::Null);
        for (pointer, text) in &self.params {
            if let Some(slot) = json.pointer_mut(pointer) {
                *slot = Json::String(text.clone());
            } else if let Some((parent, key)) = pointer.rsplit_once('/')
                && let Some(Json::Object(map)) = json.pointer_mut(parent)
            {
                // A field left out when at its default (a bucket's
                // `versioning: false`) still takes the parameter.
                map.insert(key.replace("~1", "/").replace("~0", "~"), Json::String(text.clone()));
            }
        }
        (json, self)
    }
    pub(crate) fn depends_on(&mut self, id: &str) {
        self.depends_on.push(id.to_string());
    }
    pub(crate) fn options(&mut self) -> &mut ResourceOptions {
        &mut self.options
    }
}

/// Declares a kind's builder type: the struct holding its props, its
/// [`Resource`] impl, and the lifecycle options every builder has.
macro_rules! builder {
    ($(#[$doc:meta])* $name:ident = $type:literal, $props:ty) => {
        $(#[$doc])*
        ///
        /// Every builder also takes the lifecycle options [`retain`](Self::retain),
        /// [`protect`](Self::protect), [`no_auto_wire`](Self::no_auto_wire) and
        /// [`depends_on`](Self::depends_on).
        #[derive(Clone, Debug, Default)]
        #[must_use]
        pub struct $name {
            props: $props,
            common: $crate::stack::Common,
        }

        impl $crate::stack::Resource for $name {
            const TYPE: &'static str = $type;
            fn into_parts(self) -> (serde_json::Value, $crate::stack::Common) {
                self.common.finish(&self.props)
            }
        }

        impl $name {
            /// Starts from a full props value.
            pub fn from_props(props: $props) -> Self {
                $name { props, common: $crate::stack::Common::default() }
            }
            /// Changes the props in place, for what no setter covers.
            pub fn with(mut self, f: impl FnOnce(&mut $props)) -> Self {
                f(&mut self.props);
                self
            }
            /// Orders this resource after another one it does not reference.
            pub fn depends_on<O>(mut self, other: &$crate::stack::Handle<O>) -> Self {
                self.common.depends_on(other.id());
                self
            }
            /// Leave it in AWS on destroy or removal, and forget it.
            pub fn retain(mut self) -> Self {
                self.common.options().retain = true;
                self
            }
            /// Refuse to delete or replace it.
            pub fn protect(mut self) -> Self {
                self.common.options().protect = true;
                self
            }
            /// Do not derive glue (policies, permissions) for it.
            pub fn no_auto_wire(mut self) -> Self {
                self.common.options().auto_wire = false;
                self
            }
            /// Sets a prop that takes a literal or a [`Param`](crate::Param):
            /// `set` stores the literal (or a placeholder) in the typed props,
            /// and a parameter's reference replaces it at `pointer`.
            #[allow(dead_code)]
            fn set_value<T: Default>(
                mut self,
                pointer: &str,
                value: impl Into<$crate::stack::Value<T>>,
                set: impl FnOnce(&mut $props, T),
            ) -> Self {
                let v = self.common.value(pointer, value.into());
                set(&mut self.props, v);
                self
            }
        }
    };
}
pub(crate) use builder;

/// A resource added to a stack; its attribute methods (`arn()`, `url()`,
/// `name()`, …, per kind) make typed references.
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
    /// The resource's id in the stack.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The reference text of one of its attributes.
    pub(crate) fn attr(&self, attr: &str) -> String {
        format!("${{{}.{attr}}}", self.id)
    }
    /// An untyped reference to one of its attributes.
    pub(crate) fn text_attr(&self, attr: &str) -> Ref {
        Ref(self.attr(attr))
    }
}

/// A reference (`${param.email}`, `${aws.region}`, an attribute with no
/// more precise type) usable wherever the builders take text. Combine it
/// with text through `format!` and [`Ref::text`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref(String);

impl Ref {
    /// The reference as template text, for building longer strings.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// Conversions every reference-like value has: shown as its template text,
/// and usable wherever text or JSON is taken.
macro_rules! as_text {
    ($name:ident $(<$k:ident>)?) => {
        impl$(<$k>)? fmt::Display for $name$(<$k>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.text())
            }
        }
        impl$(<$k>)? Serialize for $name$(<$k>)? {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.text())
            }
        }
        impl$(<$k>)? From<$name$(<$k>)?> for String {
            fn from(v: $name$(<$k>)?) -> String {
                v.text().to_string()
            }
        }
        impl$(<$k>)? From<&$name$(<$k>)?> for String {
            fn from(v: &$name$(<$k>)?) -> String {
                v.text().to_string()
            }
        }
        impl$(<$k>)? From<$name$(<$k>)?> for Json {
            fn from(v: $name$(<$k>)?) -> Json {
                Json::String(v.text().to_string())
            }
        }
    };
}

as_text!(Ref);

/// Declares a typed attribute value: what one attribute of a resource of
/// kind `K` holds, resolved at deploy time.
macro_rules! typed_value {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        pub struct $name<K> {
            text: String,
            _kind: PhantomData<fn() -> K>,
        }

        impl<K> $name<K> {
            #[doc = concat!("A known ", $what, " written as text, for a resource outside the stack. ")]
            /// It may hold pseudo values (`${aws.partition}`, `${aws.region}`,
            /// `${aws.account_id}`) and parameters; `validate` checks that a
            /// reference to another resource in it is of the right type.
            pub fn literal(text: impl Into<String>) -> Self {
                $name { text: text.into(), _kind: PhantomData }
            }
            pub(crate) fn reference(text: String) -> Self {
                $name { text, _kind: PhantomData }
            }
            /// The value as template text (`${jobs.arn}`).
            pub fn text(&self) -> &str {
                &self.text
            }
        }

        impl<K> Clone for $name<K> {
            fn clone(&self) -> Self {
                Self::reference(self.text.clone())
            }
        }

        impl<K> fmt::Debug for $name<K> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.text).finish()
            }
        }

        impl<K> PartialEq for $name<K> {
            fn eq(&self, other: &Self) -> bool {
                self.text == other.text
            }
        }

        as_text!($name<K>);
    };
}

typed_value!(
    /// The ARN of a resource of kind `K` (`Arn<sqs::Queue>`), from
    /// `handle.arn()` or [`Arn::literal`].
    Arn,
    "ARN"
);
typed_value!(
    /// The URL of a resource of kind `K` (an SQS queue's), from `handle.url()`.
    Url,
    "URL"
);
typed_value!(
    /// The name of a resource of kind `K` as AWS knows it, from
    /// `handle.name()` or [`Name::literal`].
    Name,
    "name"
);
typed_value!(
    /// The AWS id of a resource of kind `K` (`sg-…`, `i-…`), from the
    /// handle's id method (`group_id()`, `instance_id()`) or [`Id::literal`].
    Id,
    "id"
);

/// The kind of an ARN that may be any resource's (an alarm action, a rule's
/// target), for [`Arn::any`].
#[derive(Clone, Copy, Debug)]
pub enum AnyKind {}

impl Arn<AnyKind> {
    /// A known ARN of any resource, for a setter taking the ARN of any kind.
    pub fn any(text: impl Into<String>) -> Self {
        Arn::literal(text)
    }
}

/// What AWS calls "a name or an ARN" of a resource of kind `K`: its
/// [`Name`] or its [`Arn`].
pub trait NameOrArn<K> {
    /// The value as template text.
    fn into_text(self) -> String;
}

impl<K> NameOrArn<K> for Arn<K> {
    fn into_text(self) -> String {
        self.text
    }
}

impl<K> NameOrArn<K> for Name<K> {
    fn into_text(self) -> String {
        self.text
    }
}

/// Declares the typed attribute methods of a kind's handle:
/// `attributes!(Queue: arn => Arn, url => Url)`.
macro_rules! attributes {
    ($kind:ty: $($attr:ident => $typed:ident),* $(,)?) => {
        impl $crate::stack::Handle<$kind> {
            $(
                #[doc = concat!("A reference to its `", stringify!($attr), "` attribute.")]
                pub fn $attr(&self) -> $crate::stack::$typed<$kind> {
                    $crate::stack::$typed::reference(self.attr(stringify!($attr)))
                }
            )*
        }
    };
}
pub(crate) use attributes;

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

/// What a setter of a number or boolean takes: a literal, or a [`Param`]
/// of the same type (`impl Into<Value<u32>>` takes `30` or `&timeout`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value<T> {
    Literal(T),
    /// A parameter's reference, `${param.name}`.
    Param(String),
}

impl<T> From<T> for Value<T> {
    fn from(v: T) -> Self {
        Value::Literal(v)
    }
}

impl<T> From<Param<T>> for Value<T> {
    fn from(p: Param<T>) -> Self {
        Value::Param(p.text())
    }
}

impl<T> From<&Param<T>> for Value<T> {
    fn from(p: &Param<T>) -> Self {
        Value::Param(p.text())
    }
}

/// A type a [`Param`] may have: the numbers the setters take, booleans and
/// text.
pub trait ParamValue: Serialize {
    const TYPE: ParamType;
}

impl ParamValue for u32 {
    const TYPE: ParamType = ParamType::Integer;
}
impl ParamValue for i32 {
    const TYPE: ParamType = ParamType::Integer;
}
impl ParamValue for f64 {
    const TYPE: ParamType = ParamType::Number;
}
impl ParamValue for bool {
    const TYPE: ParamType = ParamType::Boolean;
}
impl ParamValue for String {
    const TYPE: ParamType = ParamType::String;
}

/// A typed stack parameter, declared with [`Stack::declare`] and usable in
/// any setter of its type: `Param<u32>` wherever a setter takes
/// `impl Into<Value<u32>>`, `Param<String>` wherever it takes text. Its
/// value is given with `-p name=value` (or `CAIRN_PARAM_NAME`) and checked
/// by `validate` like a YAML parameter with the same `type`, `min` and
/// `max`: a value of another type or out of range is an error.
///
/// ```
/// use cairn::{Param, Stack, sqs};
///
/// let mut stack = Stack::new("jobs");
/// let timeout = stack.declare(Param::<u32>::new("timeout").default(30).range(1, 900));
/// stack.add("jobs", sqs::Queue::new().visibility_timeout(&timeout));
/// assert_eq!(stack.spec().resources[0].props["visibility_timeout"], "${param.timeout}");
/// ```
pub struct Param<T> {
    name: String,
    spec: ParamSpec,
    _type: PhantomData<fn() -> T>,
}

impl<T: ParamValue> Param<T> {
    /// A required parameter named `name`.
    pub fn new(name: &str) -> Self {
        let spec = ParamSpec { value_type: Some(T::TYPE), ..ParamSpec::default() };
        Param { name: name.to_string(), spec, _type: PhantomData }
    }
    /// What the parameter is for.
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        self.spec.description = (!text.is_empty()).then(|| text.to_string());
        self
    }
    /// The value when none is given.
    #[must_use]
    pub fn default(mut self, value: T) -> Self {
        self.spec.default = serde_json::to_value(value).ok();
        self
    }
    /// Masked wherever values are shown.
    #[must_use]
    pub fn secret(mut self) -> Self {
        self.spec.secret = true;
        self
    }
}

impl<T: ParamValue + Into<f64>> Param<T> {
    /// The values allowed, both ends included.
    #[must_use]
    pub fn range(mut self, min: T, max: T) -> Self {
        self.spec.min = Some(min.into());
        self.spec.max = Some(max.into());
        self
    }
}

impl<T> Param<T> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its reference as template text, `${param.name}`.
    pub fn text(&self) -> String {
        format!("${{param.{}}}", self.name)
    }
}

impl<T> Clone for Param<T> {
    fn clone(&self) -> Self {
        Param { name: self.name.clone(), spec: self.spec.clone(), _type: PhantomData }
    }
}

impl<T> fmt::Debug for Param<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Param").field("name", &self.name).field("spec", &self.spec).finish()
    }
}

impl<T> fmt::Display for Param<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl From<Param<String>> for String {
    fn from(p: Param<String>) -> String {
        p.text()
    }
}

impl From<&Param<String>> for String {
    fn from(p: &Param<String>) -> String {
        p.text()
    }
}

impl<T> From<Param<T>> for Json {
    fn from(p: Param<T>) -> Json {
        Json::String(p.text())
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
    /// Keeps the stack's state in S3 (`s3://BUCKET/PREFIX`, with
    /// `?region=REGION` when the bucket is in another region) instead of
    /// the local `.cairn`, as a YAML stack's `state:` does; the command
    /// line's `--state` or `--state-dir` overrides it.
    pub fn state(&mut self, url: &str) -> &mut Self {
        self.spec.state.get_or_insert_with(StateSpec::default).url = Some(url.to_string());
        self
    }
    /// Writes the state and lock objects SSE-KMS under this key (S3 only).
    pub fn state_kms_key(&mut self, key: &str) -> &mut Self {
        self.spec.state.get_or_insert_with(StateSpec::default).kms_key = Some(key.to_string());
        self
    }
    /// Encrypts the state document, wherever it is kept.
    pub fn state_encryption(&mut self, encryption: StateEncryption) -> &mut Self {
        self.spec.state.get_or_insert_with(StateSpec::default).encryption = Some(encryption);
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
        self.declare_untyped(name, description, None)
    }
    /// A parameter with a default value.
    pub fn param_or(&mut self, name: &str, description: &str, default: impl Into<Json>) -> Ref {
        self.declare_untyped(name, description, Some(default.into()))
    }
    /// Declares a typed parameter (see [`Param`]) and returns it.
    pub fn declare<T>(&mut self, param: Param<T>) -> Param<T> {
        self.spec.parameters.insert(param.name.clone(), param.spec.clone());
        param
    }
    fn declare_untyped(&mut self, name: &str, description: &str, default: Option<Json>) -> Ref {
        let description = (!description.is_empty()).then(|| description.to_string());
        self.spec.parameters.insert(name.to_string(), ParamSpec { description, default, ..ParamSpec::default() });
        Ref(format!("${{param.{name}}}"))
    }
    /// Adds a resource under `id` and returns its handle.
    pub fn add<R: Resource>(&mut self, id: &str, resource: R) -> Handle<R> {
        let (props, common) = resource.into_parts();
        self.spec.resources.push(ResourceSpec {
            id: id.to_string(),
            kind: R::TYPE.to_string(),
            props,
            depends_on: common.depends_on,
            options: common.options,
            derived: false,
            derived_props: Default::default(),
        });
        Handle { id: id.to_string(), _kind: PhantomData }
    }
    /// Adds a resource already in the engine's form (for sets of resources
    /// read from a stack file, such as `cis::monitoring`).
    #[allow(dead_code)]
    pub(crate) fn push_spec(&mut self, resource: ResourceSpec) {
        self.spec.resources.push(resource);
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
