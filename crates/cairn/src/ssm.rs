//! Builders for SSM parameters.

use cairn_aws::kinds::ssm_parameter::{ParameterProps, ParameterType};

use crate::stack::{attributes, builder};

builder!(
    /// An SSM parameter (`aws:ssm:Parameter`). Its handle gives `arn()` and
    /// `name()`.
    Parameter = "aws:ssm:Parameter", ParameterProps
);

attributes!(Parameter: arn => Arn, name => Name);

impl Parameter {
    /// A `String` parameter named `/cairn/<stack>/<id>` unless
    /// [`Parameter::name`] says otherwise.
    pub fn new(value: impl Into<String>) -> Self {
        Self::from_props(ParameterProps { value: value.into(), ..ParameterProps::default() })
    }
    /// A `StringList` parameter: the values joined with commas.
    pub fn list<S: AsRef<str>>(values: &[S]) -> Self {
        let value = values.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",");
        Self::from_props(ParameterProps { value, r#type: ParameterType::StringList, ..ParameterProps::default() })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resource;
    use crate::Stack;
    use cairn_engine::kind::NameCtx;

    #[test]
    fn builder_props_pass_the_kinds_check() {
        let mut stack = Stack::new("lab2");
        let p = stack.add("subnets", Parameter::list(&["a", "b"]).description("subnet ids"));
        assert_eq!(p.name().text(), "${subnets.name}");
        let spec = &stack.spec().resources[0];
        let registry = cairn_aws::registry();
        let kind = registry.get(Parameter::TYPE).map(|k| {
            k.check(&spec.props, &NameCtx { stack: "lab2", id: "subnets", base_dir: std::path::Path::new("") })
        });
        let props = kind.and_then(Result::ok).unwrap_or_default();
        assert_eq!(props["name"], "/cairn/lab2/subnets");
        assert_eq!(props["value"], "a,b");
        assert_eq!(props["type"], "StringList");
    }
}
