//! Where in S3 a stack's state is kept: the `s3://BUCKET/PREFIX` a user
//! writes, read without any AWS crate (the stack format checks it offline;
//! the S3 backend itself lives in cairn-aws).

/// Where in S3 state is kept: a bucket, a key prefix (possibly empty) and,
/// when the bucket is in another region than the one cairn works in, that
/// region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Place {
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
}

impl S3Place {
    /// Reads `s3://BUCKET[/PREFIX][?region=REGION]`.
    pub fn parse(url: &str) -> Result<S3Place, String> {
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(format!("expected s3://BUCKET/PREFIX, got `{url}`"));
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(format!(
                "`{bucket}` in `{url}` is not an S3 bucket name (3 to 63 characters: lowercase letters, digits, `-` and `.`)"
            ));
        }
        let mut region = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("region", r)) if !r.is_empty() => region = Some(r.to_string()),
                _ => return Err(format!("unknown `{pair}` in `{url}`: the only setting is `?region=REGION`")),
            }
        }
        let prefix = prefix.trim_matches('/').to_string();
        Ok(S3Place { bucket: bucket.to_string(), prefix, region })
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }

    /// `s3://BUCKET/PREFIX`, as given (without the region).
    pub fn url(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            prefix => format!("s3://{}/{prefix}", self.bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::S3Place;

    #[test]
    fn urls_read_as_bucket_prefix_and_region() {
        let p = |url: &str| S3Place::parse(url);
        let place = |bucket: &str, prefix: &str, region: Option<&str>| {
            Ok(S3Place { bucket: bucket.into(), prefix: prefix.into(), region: region.map(Into::into) })
        };
        assert_eq!(p("s3://my-state"), place("my-state", "", None));
        assert_eq!(p("s3://my-state/"), place("my-state", "", None));
        assert_eq!(p("s3://my-state/team/labs/"), place("my-state", "team/labs", None));
        assert_eq!(p("s3://my.state/x?region=eu-west-1"), place("my.state", "x", Some("eu-west-1")));
        for bad in ["my-state/x", "s3://", "s3://ab", "s3://My-State/x", "s3://b_c/x", "s3://abc/x?regio=eu-west-1"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let Ok(labs) = p("s3://my-state/team/labs") else { return };
        assert_eq!(labs.key("lab1.json"), "team/labs/lab1.json");
        assert_eq!(labs.url(), "s3://my-state/team/labs");
        let Ok(root) = p("s3://my-state") else { return };
        assert_eq!(root.key("lab1.json"), "lab1.json");
    }
}
