//! How the engine sees resource kinds: the [`Kind`] trait, its typed
//! convenience form [`TypedKind`], the [`Registry`] and the [`Provider`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diag::PathSeg;
use crate::value::Json;

/// Facts about the account a stack is deployed to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    pub account_id: String,
    pub region: String,
    pub partition: String,
}

/// What one operation knows about where it runs.
#[derive(Clone)]
pub struct OpCtx {
    pub stack: String,
    /// The resource id in the stack.
    pub resource: String,
    /// Every tag the resource must carry: the stack's tags plus
    /// `cairn:stack` and `cairn:resource`.
    pub tags: BTreeMap<String, String>,
    pub env: Environment,
    /// Reports a wait or retry in progress ("waiting for IAM to propagate").
    pub notify: Arc<dyn Fn(&str) + Send + Sync>,
    /// Where relative paths in props (a function's code directory) start:
    /// the stack file's directory; empty means the working directory.
    pub base_dir: PathBuf,
    /// Set on a create when the look this apply made as it started
    /// ([`Kind::absent`]) found nothing by the resource's name: the create
    /// need not look again before sending its request.
    pub absent: bool,
    /// Whether a create may take over a resource tagged for this stack and
    /// id that another state made (`apply --adopt`, or an unfinished create
    /// state recorded before this run). See [`OpCtx::ensure_owns`].
    pub adopt: bool,
    /// Where this state is kept, for messages (`.cairn/s1.json`).
    pub state_location: Option<String>,
}

pub const TAG_STACK: &str = "cairn:stack";
pub const TAG_RESOURCE: &str = "cairn:resource";
/// The lineage of the state that created the resource
/// ([`crate::state::State::lineage`]).
pub const TAG_STATE: &str = "cairn:state";
/// When the stack may be swept, RFC 3339 UTC: set by an apply with a time
/// to live ([`crate::spec::StackSpec::ttl`]).
pub const TAG_EXPIRES: &str = "cairn:expires";
/// Put on a resource that `retain` left in AWS when cairn forgot it: its
/// ownership tags stay, and `cairn sweep` leaves it alone.
pub const TAG_RETAINED: &str = "cairn:retained";

impl OpCtx {
    /// Whether live tags say the resource belongs to this stack and id.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_STACK) == Some(&self.stack) && tags.get(TAG_RESOURCE) == Some(&self.resource)
    }
    /// The one place a create decides whether to take over a live resource
    /// it found by name: `Ok` when live tags say it belongs to this stack and
    /// id, and to this state (its `cairn:state` tag is this state's lineage:
    /// an earlier try of this create whose answer was lost, or a run killed
    /// before it saved), or adoption is allowed ([`OpCtx::adopt`]).
    /// Otherwise the refusal, naming `what` and its owner: another stack's
    /// ([`OpError::NotOwned`]), or this stack's in another state
    /// ([`OpError::Untracked`]).
    pub fn ensure_owns(&self, tags: &BTreeMap<String, String>, what: String) -> Result<(), OpError> {
        if !self.owns(tags) {
            return Err(OpError::NotOwned { what, owner: OpCtx::owner_of(tags) });
        }
        if self.adopt || tags.get(TAG_STATE) == self.tags.get(TAG_STATE) {
            return Ok(());
        }
        Err(OpError::Untracked {
            what,
            resource: self.resource.clone(),
            stack: self.stack.clone(),
            lineage: tags.get(TAG_STATE).cloned(),
            location: self.state_location.clone().unwrap_or_else(|| "this state".to_string()),
        })
    }
    /// Who live tags say owns the resource, for messages.
    pub fn owner_of(tags: &BTreeMap<String, String>) -> String {
        match (tags.get(TAG_STACK), tags.get(TAG_RESOURCE)) {
            (Some(s), Some(r)) => format!("it belongs to cairn stack `{s}`, resource `{r}`"),
            (Some(s), None) => format!("it belongs to cairn stack `{s}`"),
            _ => "it has no cairn ownership tags".to_string(),
        }
    }
}

/// A failed operation against the provider.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Errors read as lowercase fragments: "creating SNS topic x: access denied".
    /// It is one line, except that lines starting with [`RAW_DETAIL`] may
    /// follow: the raw account of an answer that could not be read, which a
    /// front end shows only when asked for ([`brief`] drops them).
    #[error("{0}")]
    Failed(String),
    #[error(
        "{what} already exists and {owner}; cairn will not take it over. To import it, tag it `cairn:stack` = the \
         stack's name and `cairn:resource` = this resource's id, then apply again; otherwise delete it or give \
         this resource another name"
    )]
    NotOwned { what: String, owner: String },
    #[error(
        "{what} already exists, tagged as resource `{resource}` of stack `{stack}`, but {location} does not \
         hold it: another state of this stack owns it ({}). Most likely that is `.cairn/{stack}.json` in the \
         directory an earlier apply ran in, or the directory its --state-dir or CAIRN_STATE_DIR named; run cairn \
         there (or pass that --state-dir). To make this state own it instead, run `cairn apply --adopt`; the other \
         state should then forget it (`cairn state rm {resource}` there)",
        match .lineage { Some(l) => format!("state lineage {l}"), None => "made by a cairn that did not record its state".to_string() }
    )]
    Untracked { what: String, resource: String, stack: String, lineage: Option<String>, location: String },
}

/// What starts a line of raw detail in an error's text (after two spaces
/// of indent).
pub const RAW_DETAIL: &str = "raw: ";

/// An error's text without its [`RAW_DETAIL`] lines.
pub fn brief(text: &str) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with(RAW_DETAIL)).collect();
    kept.join("\n")
}

impl OpError {
    pub fn failed(msg: impl Into<String>) -> Self {
        OpError::Failed(msg.into())
    }
}

/// A resource as it exists: its physical id, its props as far as they can be
/// read back (in the same canonical form as the desired props), and its
/// attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed<P> {
    pub physical_id: String,
    pub props: P,
    pub attrs: BTreeMap<String, Json>,
}

pub type Live = Observed<Json>;

/// A problem with props found offline by a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropError {
    pub path: Vec<PathSeg>,
    pub message: String,
    pub expected: Option<String>,
    pub suggestion: Option<String>,
    pub warning: bool,
}

impl PropError {
    pub fn new(path: &[&str], message: impl Into<String>) -> Self {
        PropError {
            path: path.iter().map(|k| PathSeg::Key((*k).to_string())).collect(),
            message: message.into(),
            expected: None,
            suggestion: None,
            warning: false,
        }
    }
    #[must_use]
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
}

/// Where a resource sits, for computing defaults such as its physical name.
#[derive(Clone, Debug)]
pub struct NameCtx<'a> {
    pub stack: &'a str,
    pub id: &'a str,
    /// Where relative paths in props start (see [`OpCtx::base_dir`]).
    pub base_dir: &'a Path,
}

impl NameCtx<'_> {
    /// The default physical name, `<stack>-<id>`.
    pub fn default_name(&self) -> String {
        format!("{}-{}", self.stack, self.id)
    }
}

/// Whether a string holds a `${…}` reference, so that checks on its final
/// value must wait until it is resolved.
pub fn is_ref(s: &str) -> bool {
    s.contains("${")
}

/// What the kind reference (`cairn explain`, `docs/kinds/`) says of a kind
/// beyond its props type, whose doc comments (in [`Kind::schema`]) describe
/// the kind and each prop, and whose defaults come from the code that fills
/// them ([`Kind::default_props`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindDoc {
    /// How AWS knows a resource of this kind: what state records and
    /// `cairn import` takes.
    pub physical_id: &'static str,
    /// What `${id.attr}` gives for each of [`Kind::attributes`], in order.
    pub attributes: &'static [(&'static str, &'static str)],
    /// What AWS does to the unwary that the kind handles, one line each.
    pub quirks: &'static [&'static str],
}

impl KindDoc {
    /// Nothing said: the default of a kind that has no reference yet.
    pub const NONE: KindDoc = KindDoc { physical_id: "", attributes: &[], quirks: &[] };
}

/// What an attribute holds, so that `validate` can tell whether a reference
/// fits the prop it is written in (a queue's URL is no queue ARN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// The ARN of a resource of that kind (`aws:sqs:Queue`); in
    /// [`RefProp::accepts`], `Arn("*")` is the ARN of any kind.
    Arn(&'static str),
    /// The URL of a resource of that kind.
    Url(&'static str),
    /// The name AWS knows a resource of that kind by.
    Name(&'static str),
    /// The AWS id of a resource of that kind (`sg-…`, `i-…`).
    Id(&'static str),
    /// Other text: an IP address, a version, a domain name.
    Text,
}

impl AttrType {
    /// The type an attribute has by its name alone: `arn`, `url`, `name` and
    /// `id` of the kind itself; anything else is text.
    pub fn by_name(kind: &'static str, attr: &str) -> AttrType {
        match attr {
            "arn" => AttrType::Arn(kind),
            "url" => AttrType::Url(kind),
            "name" => AttrType::Name(kind),
            "id" => AttrType::Id(kind),
            _ => AttrType::Text,
        }
    }
    /// Whether a value of type `got` fits where `self` is expected.
    pub fn fits(self, got: AttrType) -> bool {
        self == got || matches!((self, got), (AttrType::Arn("*"), AttrType::Arn(_)))
    }
    /// In words: "the ARN of an aws:sqs:Queue".
    pub fn describe(self) -> String {
        match self {
            AttrType::Arn("*") => "an ARN".to_string(),
            AttrType::Arn(k) => format!("the ARN of an {k}"),
            AttrType::Url(k) => format!("the URL of an {k}"),
            AttrType::Name(k) => format!("the name of an {k}"),
            AttrType::Id(k) => format!("the id of an {k}"),
            AttrType::Text => "text".to_string(),
        }
    }
}

/// A prop that takes a reference to another resource, and what fits there.
#[derive(Clone, Copy, Debug)]
pub struct RefProp {
    /// The path to the prop: keys, and `*` for any item of a list or map.
    pub path: &'static [&'static str],
    /// Only when this top-level prop has this value (`protocol`, `sqs`).
    pub when: Option<(&'static str, &'static str)>,
    /// The types a whole-value reference written there may have.
    pub accepts: &'static [AttrType],
}

/// A resource kind as the engine drives it: props are JSON in canonical form.
#[async_trait]
pub trait Kind: Send + Sync {
    /// `aws:sns:Topic`.
    fn type_name(&self) -> &'static str;
    /// The attributes `${id.attr}` may read.
    fn attributes(&self) -> &'static [&'static str];
    /// What the attribute `attr` holds; by default [`AttrType::by_name`].
    fn attribute_type(&self, attr: &str) -> AttrType {
        AttrType::by_name(self.type_name(), attr)
    }
    /// The props that take a reference to another resource, and the
    /// attribute types that fit each; `validate` refuses a reference of
    /// another type there.
    fn ref_props(&self) -> &'static [RefProp] {
        &[]
    }
    /// Top-level props that AWS cannot change in place; `*` means all.
    fn replace_on(&self) -> &'static [&'static str];
    /// JSON Schema of the props.
    fn schema(&self) -> Json;
    /// What the reference says of the kind beyond its props.
    fn doc(&self) -> &'static KindDoc {
        &KindDoc::NONE
    }
    /// The props a resource gets when it sets none (in a stack `<stack>`,
    /// resource `<id>`): the defaults the reference shows, from the code
    /// that fills them. `null` when unknown.
    fn default_props(&self) -> Json {
        Json::Null
    }
    /// Checks props (references still unresolved) and returns them in
    /// canonical form, defaults filled.
    fn check(&self, props: &Json, cx: &NameCtx<'_>) -> Result<Json, Vec<PropError>>;
    async fn create(&self, cx: &OpCtx, props: &Json) -> Result<Live, OpError>;
    /// `Ok(None)`: it is gone. `last` holds the last applied props, for what
    /// AWS cannot report back.
    async fn read(&self, cx: &OpCtx, physical_id: &str, last: &Json) -> Result<Option<Live>, OpError>;
    async fn update(&self, cx: &OpCtx, physical_id: &str, old: &Json, new: &Json) -> Result<Live, OpError>;
    /// Deleting something already gone is success.
    async fn delete(&self, cx: &OpCtx, physical_id: &str, props: &Json) -> Result<(), OpError>;
    /// Deletes a resource found by its tags, with no state to say what it
    /// was (`cairn sweep`, `destroy --from-tags`): [`Kind::delete`] with the
    /// props that let it delete whatever the resource holds. The default
    /// refuses.
    async fn delete_found(&self, _cx: &OpCtx, _physical_id: &str) -> Result<(), OpError> {
        Err(OpError::failed(format!("a {} cannot be deleted without its state", self.type_name())))
    }
    /// How many resources of this kind [`Kind::read_many`] takes at once; 1
    /// (the default) means one at a time.
    fn read_batch(&self) -> usize {
        1
    }
    /// For kinds whose create looks for an existing resource of the same
    /// name first: that look, made by apply as it starts, for every resource
    /// it will create, so that a create waiting for its dependencies finds
    /// the answer ready. `props` are as planned (values from other resources
    /// may be unknown). `Some(true)`: nothing by that name; `Some(false)`:
    /// something is there (the create then looks for itself and decides);
    /// `None`: no such look, or not possible yet (the name is unknown).
    async fn absent(&self, _cx: &OpCtx, _props: &Json) -> Option<bool> {
        None
    }
    /// What deleting this resource would lose that AWS cannot give back
    /// ("holds 12 messages"), asked by the plan for every delete or replace
    /// it plans (not for `retain`, which keeps the resource), to warn before
    /// apply. One cheap read at most; `None` (the default) when the kind
    /// holds no data, or holds none now, or the read failed (a warning is
    /// advice, not a reason to stop the plan).
    async fn data_at_risk(&self, _cx: &OpCtx, _physical_id: &str, _props: &Json) -> Option<String> {
        None
    }
    /// The tags the live resource carries, for `cairn import`; `Ok(None)` for
    /// a kind whose resources carry no tags (the default). `physical_id` is
    /// as [`Kind::read`] returns it; a resource that is gone is an error that
    /// says so.
    async fn live_tags(&self, _cx: &OpCtx, _physical_id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        Ok(None)
    }
    /// Adds `tags` to the live resource (setting those keys' values),
    /// removing nothing and changing nothing else; for `cairn import`. Never
    /// called for a kind whose [`Kind::live_tags`] is `None`.
    async fn add_tags(&self, _cx: &OpCtx, _physical_id: &str, _tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        Ok(())
    }
    /// Reads several resources of this kind, one result per item and in
    /// their order, for kinds whose API describes many in one call. The
    /// default reads them one after another.
    async fn read_many(&self, items: &[ReadItem<'_, Json>]) -> Vec<Result<Option<Live>, OpError>> {
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            out.push(self.read(it.cx, it.physical_id, it.last).await);
        }
        out
    }
}

/// One resource of a batched read: its context, physical id and the props
/// last applied.
pub struct ReadItem<'a, P> {
    pub cx: &'a OpCtx,
    pub physical_id: &'a str,
    pub last: &'a P,
}

/// The typed way to write a kind; [`typed`] turns it into a [`Kind`].
#[async_trait]
pub trait TypedKind: Send + Sync + 'static {
    const TYPE: &'static str;
    const ATTRIBUTES: &'static [&'static str];
    /// Attributes whose type [`AttrType::by_name`] does not tell (a
    /// function's `role` is its role's ARN).
    const ATTRIBUTE_TYPES: &'static [(&'static str, AttrType)] = &[];
    /// See [`Kind::ref_props`].
    const REF_PROPS: &'static [RefProp] = &[];
    /// Top-level props that force a replacement; `*` means all.
    const REPLACE_ON: &'static [&'static str];
    type Props: Serialize + DeserializeOwned + JsonSchema + Clone + Default + Send + Sync;
    /// What the reference says of the kind beyond its props (see [`KindDoc`]).
    const DOC: &'static KindDoc = &KindDoc::NONE;

    /// The props [`Kind::delete_found`] deletes with: what is known of a
    /// resource found by its tags alone. The default knows nothing; a kind
    /// whose delete keeps what it holds unless told (a bucket's objects)
    /// says here that a sweep deletes it all.
    fn found_props() -> Self::Props {
        Self::Props::default()
    }

    /// Fills defaults (such as the physical name) before anything compares.
    fn defaults(_props: &mut Self::Props, _cx: &NameCtx<'_>) {}
    /// Offline checks beyond the shape: names, ranges, syntax.
    fn validate(_props: &Self::Props, _errors: &mut Vec<PropError>) {}
    async fn create(&self, cx: &OpCtx, props: &Self::Props) -> Result<Observed<Self::Props>, OpError>;
    async fn read(
        &self,
        cx: &OpCtx,
        physical_id: &str,
        last: &Self::Props,
    ) -> Result<Option<Observed<Self::Props>>, OpError>;
    async fn update(
        &self,
        cx: &OpCtx,
        physical_id: &str,
        old: &Self::Props,
        new: &Self::Props,
    ) -> Result<Observed<Self::Props>, OpError>;
    async fn delete(&self, cx: &OpCtx, physical_id: &str, props: &Self::Props) -> Result<(), OpError>;

    /// See [`Kind::absent`]; props are JSON because planned values may be
    /// unknown.
    async fn absent(&self, _cx: &OpCtx, _props: &Json) -> Option<bool> {
        None
    }

    /// See [`Kind::data_at_risk`].
    async fn data_at_risk(&self, _cx: &OpCtx, _physical_id: &str, _props: &Self::Props) -> Option<String> {
        None
    }

    /// See [`Kind::live_tags`].
    async fn live_tags(&self, _cx: &OpCtx, _physical_id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        Ok(None)
    }

    /// See [`Kind::add_tags`].
    async fn add_tags(&self, _cx: &OpCtx, _physical_id: &str, _tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        Ok(())
    }

    /// How many resources [`TypedKind::read_many`] takes at once (see
    /// [`Kind::read_batch`]).
    const READ_BATCH: usize = 1;
    /// Reads several resources at once, one result per item, in order.
    async fn read_many(
        &self,
        items: &[ReadItem<'_, Self::Props>],
    ) -> Vec<Result<Option<Observed<Self::Props>>, OpError>> {
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            out.push(self.read(it.cx, it.physical_id, it.last).await);
        }
        out
    }
}

/// Wraps a [`TypedKind`] as a [`Kind`].
pub fn typed<K: TypedKind>(kind: K) -> Arc<dyn Kind> {
    Arc::new(Typed(kind))
}

struct Typed<K>(K);

fn from_json<P: DeserializeOwned>(what: &str, v: &Json) -> Result<P, OpError> {
    serde_json::from_value(v.clone()).map_err(|e| OpError::failed(format!("reading {what} props: {e}")))
}

fn to_json<P: Serialize>(p: &P) -> Json {
    serde_json::to_value(p).unwrap_or(Json::Null)
}

fn to_live<P: Serialize>(o: Observed<P>) -> Live {
    Observed { physical_id: o.physical_id, props: to_json(&o.props), attrs: o.attrs }
}

/// Deserializes JSON props into `P`, reporting errors with their path.
pub fn deserialize_props<P: DeserializeOwned>(props: &Json) -> Result<P, PropError> {
    serde_path_to_error::deserialize::<_, P>(props.clone()).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                serde_path_to_error::Segment::Enum { variant } => Some(PathSeg::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = e.into_inner().to_string();
        PropError { path, message: inner, expected: None, suggestion: None, warning: false }
    })
}

#[async_trait]
impl<K: TypedKind> Kind for Typed<K> {
    fn type_name(&self) -> &'static str {
        K::TYPE
    }
    fn attributes(&self) -> &'static [&'static str] {
        K::ATTRIBUTES
    }
    fn attribute_type(&self, attr: &str) -> AttrType {
        K::ATTRIBUTE_TYPES
            .iter()
            .find(|(name, _)| *name == attr)
            .map_or_else(|| AttrType::by_name(K::TYPE, attr), |(_, t)| *t)
    }
    fn ref_props(&self) -> &'static [RefProp] {
        K::REF_PROPS
    }
    fn replace_on(&self) -> &'static [&'static str] {
        K::REPLACE_ON
    }
    fn schema(&self) -> Json {
        to_json(&schemars::schema_for!(K::Props))
    }
    fn doc(&self) -> &'static KindDoc {
        K::DOC
    }
    fn default_props(&self) -> Json {
        let mut p = K::Props::default();
        K::defaults(&mut p, &NameCtx { stack: "<stack>", id: "<id>", base_dir: Path::new("") });
        to_json(&p)
    }
    fn check(&self, props: &Json, cx: &NameCtx<'_>) -> Result<Json, Vec<PropError>> {
        let mut p: K::Props = deserialize_props(props).map_err(|e| vec![e])?;
        K::defaults(&mut p, cx);
        let mut errors = Vec::new();
        K::validate(&p, &mut errors);
        if errors.iter().any(|e| !e.warning) { Err(errors) } else { Ok(to_json(&p)) }
    }
    async fn create(&self, cx: &OpCtx, props: &Json) -> Result<Live, OpError> {
        let p = from_json(K::TYPE, props)?;
        self.0.create(cx, &p).await.map(to_live)
    }
    async fn read(&self, cx: &OpCtx, physical_id: &str, last: &Json) -> Result<Option<Live>, OpError> {
        let p = from_json(K::TYPE, last)?;
        Ok(self.0.read(cx, physical_id, &p).await?.map(to_live))
    }
    async fn update(&self, cx: &OpCtx, physical_id: &str, old: &Json, new: &Json) -> Result<Live, OpError> {
        let (o, n) = (from_json(K::TYPE, old)?, from_json(K::TYPE, new)?);
        self.0.update(cx, physical_id, &o, &n).await.map(to_live)
    }
    async fn delete(&self, cx: &OpCtx, physical_id: &str, props: &Json) -> Result<(), OpError> {
        let p = from_json(K::TYPE, props)?;
        self.0.delete(cx, physical_id, &p).await
    }
    async fn absent(&self, cx: &OpCtx, props: &Json) -> Option<bool> {
        self.0.absent(cx, props).await
    }
    async fn delete_found(&self, cx: &OpCtx, physical_id: &str) -> Result<(), OpError> {
        self.0.delete(cx, physical_id, &K::found_props()).await
    }
    async fn data_at_risk(&self, cx: &OpCtx, physical_id: &str, props: &Json) -> Option<String> {
        let p = from_json(K::TYPE, props).ok()?;
        self.0.data_at_risk(cx, physical_id, &p).await
    }
    async fn live_tags(&self, cx: &OpCtx, physical_id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        self.0.live_tags(cx, physical_id).await
    }
    async fn add_tags(&self, cx: &OpCtx, physical_id: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        self.0.add_tags(cx, physical_id, tags).await
    }
    fn read_batch(&self) -> usize {
        K::READ_BATCH.max(1)
    }
    async fn read_many(&self, items: &[ReadItem<'_, Json>]) -> Vec<Result<Option<Live>, OpError>> {
        let parsed: Vec<Result<K::Props, OpError>> = items.iter().map(|it| from_json(K::TYPE, it.last)).collect();
        let good: Vec<ReadItem<'_, K::Props>> = items
            .iter()
            .zip(&parsed)
            .filter_map(|(it, p)| p.as_ref().ok().map(|last| ReadItem { cx: it.cx, physical_id: it.physical_id, last }))
            .collect();
        let mut read = self.0.read_many(&good).await.into_iter();
        parsed
            .into_iter()
            .map(|p| match p {
                Err(e) => Err(e),
                Ok(_) => read
                    .next()
                    .unwrap_or_else(|| {
                        Err(OpError::failed(format!("{}: a batched read gave too few results", K::TYPE)))
                    })
                    .map(|o| o.map(to_live)),
            })
            .collect()
    }
}

/// The kinds a provider offers, by type name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn Kind>>,
    glue: Option<Arc<dyn Glue>>,
}

/// One thing a [`Glue`] derives, as the kind reference shows it on the
/// page of each kind involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlueRule {
    /// The kinds whose resources take part (the page of each lists the rule).
    pub kinds: &'static [&'static str],
    /// When it applies: "a rule targeting a topic of the stack".
    pub when: &'static str,
    /// What is added, and where it shows.
    pub adds: &'static str,
}

/// What a provider adds between the resources of a stack that the user did
/// not write: policies and permissions one resource needs for another.
/// `validate` applies it first, so derived resources and statements are
/// checked, planned and shown like the user's own.
pub trait Glue: Send + Sync {
    /// What the glue derives, one rule per row, for the kind reference.
    fn rules(&self) -> &'static [GlueRule] {
        &[]
    }
    /// The stack with derived resources added (marked `derived`) and derived
    /// statements merged into the props of the user's resources.
    fn derive(&self, spec: &crate::spec::StackSpec) -> crate::spec::StackSpec;
    /// Checks that involve several resources (a queue and the function
    /// mapped from it), run by `validate` after each kind's own checks.
    /// `props` holds the canonical props of the resources that passed them
    /// (parameters substituted, references unresolved). Diagnostics name
    /// the resource and prop to fix, so that front ends can locate them.
    fn cross_check(
        &self,
        _spec: &crate::spec::StackSpec,
        _props: &BTreeMap<String, Json>,
    ) -> Vec<crate::diag::Diagnostic> {
        Vec::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    #[must_use]
    pub fn with(mut self, kind: Arc<dyn Kind>) -> Self {
        self.kinds.insert(kind.type_name(), kind);
        self
    }
    pub fn add(&mut self, kind: Arc<dyn Kind>) {
        self.kinds.insert(kind.type_name(), kind);
    }
    /// Sets the glue `validate` applies (see [`Glue`]).
    pub fn set_glue(&mut self, glue: Arc<dyn Glue>) {
        self.glue = Some(glue);
    }
    pub fn glue(&self) -> Option<&Arc<dyn Glue>> {
        self.glue.as_ref()
    }
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn Kind>> {
        self.kinds.get(type_name)
    }
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn Kind>> {
        self.kinds.values()
    }
}

/// Where resources live: a registry of kinds and the account they act in.
#[async_trait]
pub trait Provider: Send + Sync {
    fn registry(&self) -> &Registry;
    /// Account, region and partition; may call the provider (STS).
    async fn environment(&self) -> Result<Environment, OpError>;
}

#[cfg(test)]
mod brief_tests {
    use super::*;

    #[test]
    fn brief_drops_only_raw_detail_lines() {
        let text = format!("reading live resources:\n  a: creating x: HTTP 502\n  {RAW_DETAIL}dump\n  b: gone");
        assert_eq!(brief(&text), "reading live resources:\n  a: creating x: HTTP 502\n  b: gone");
        assert_eq!(brief("one line"), "one line");
    }
}
