//! Argo CD's structured parameters (`ARGOCD_APP_PARAMETERS`, JSON), read
//! as data: exactly the names the plugin accepts, each of its type.

use super::{PARAMETERS, ParamError, refuse};
use serde_json::Value;

/// The parameters as Argo CD sends them.
pub(super) struct Params {
    pub(super) config: Option<String>,
    pub(super) values_files: Vec<String>,
    pub(super) set: Vec<(String, String)>,
    pub(super) set_string: Vec<(String, String)>,
    pub(super) release_name: Option<String>,
    pub(super) subchart: Option<String>,
}

/// Reads `ARGOCD_APP_PARAMETERS`: a JSON list of `{name, string|array|map}`.
pub(super) fn params(json: Option<&str>) -> Result<Params, ParamError> {
    let mut p = Params {
        config: None,
        values_files: Vec::new(),
        set: Vec::new(),
        set_string: Vec::new(),
        release_name: None,
        subchart: None,
    };
    let json = match json.map(str::trim) {
        None | Some("") | Some("null") => return Ok(p),
        Some(j) => j,
    };
    let list: Vec<Value> = match serde_json::from_str(json) {
        Ok(Value::Array(l)) => l,
        _ => return refuse("ARGOCD_APP_PARAMETERS is not a JSON list of parameters"),
    };
    let mut seen = Vec::new();
    for item in &list {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            return refuse("a plugin parameter has no name");
        };
        if !PARAMETERS.contains(&name) {
            return refuse(format!(
                "unknown plugin parameter '{}': this plugin takes only {}",
                name.escape_debug(),
                PARAMETERS.join(", ")
            ));
        }
        if seen.contains(&name) {
            return refuse(format!("plugin parameter '{name}' is given twice"));
        }
        seen.push(name);
        let string = || match item.get("string") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => refuse(format!("plugin parameter '{name}' must be a string")),
        };
        let array = || match item.get("array") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => refuse(format!(
                        "plugin parameter '{name}' must be a list of strings"
                    )),
                })
                .collect(),
            _ => refuse(format!("plugin parameter '{name}' must be an array")),
        };
        let map = || match item.get("map") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => refuse(format!("plugin parameter '{name}.{k}' must be a string")),
                })
                .collect(),
            _ => refuse(format!("plugin parameter '{name}' must be a map")),
        };
        match name {
            "config" => p.config = Some(string()?),
            "values-files" => p.values_files = array()?,
            "set" => p.set = map()?,
            "set-string" => p.set_string = map()?,
            "subchart" => p.subchart = Some(string()?),
            _ => p.release_name = Some(string()?),
        }
    }
    Ok(p)
}
