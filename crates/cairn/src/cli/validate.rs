//! `cairn validate`: check one stack file or several offline, with no AWS call.

use std::path::PathBuf;

use cairn_engine::validate::Validated;

use super::{App, Exit, pretty, worse};

impl App {
    /// Validates each file in turn (all are reported), exiting with the worst.
    pub(super) fn cmd_validate_all(&mut self, files: Vec<PathBuf>) -> Exit {
        if files.len() <= 1 {
            return self.cmd_validate(files.into_iter().next());
        }
        self.shared_params = true;
        let mut worst = Exit::Ok;
        let mut specs = Vec::new();
        for file in files {
            let code = match self.validated_with(Some(file), false) {
                Ok((v, _)) => {
                    self.report_valid(&v);
                    specs.push(v.spec);
                    Exit::Ok
                }
                Err(e) => e,
            };
            worst = worse(worst, code);
        }
        if worst == Exit::Ok
            && let Err(e) = self.unclaimed_params(&specs.iter().collect::<Vec<_>>())
        {
            worst = e;
        }
        worst
    }

    fn cmd_validate(&mut self, file: Option<PathBuf>) -> Exit {
        match self.validated_with(file, false) {
            Ok((v, _)) => {
                self.report_valid(&v);
                Exit::Ok
            }
            Err(e) => e,
        }
    }

    fn report_valid(&self, v: &Validated) {
        if self.g.json {
            println!("{}", pretty(&serde_json::json!({"valid": true, "stack": v.spec.name, "resources": v.order})));
        }
        self.say(&format!("{} is valid: {} resource(s).\n", v.spec.name, v.order.len()));
    }
}
