//! The rendering pipeline: read every input (plain YAML/JSON, kustomize directories, Helm
//! charts), substitute `${VAR}`s, default namespaces, validate, and order the result.
//!
//! Plain YAML is substituted on each document's source text, as `flux envsubst` does, so a
//! placeholder can produce a number or a boolean and a missing variable is reported at its own
//! line. Kustomize and Helm output is substituted after the build, object by object, as Flux's
//! postBuild does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops::envsubst::{self, Mode, Vars};
use gitops::manifest::{self, Document, Object, Source};
use gitops::Location;

use crate::{helm, kustomize, vars, Error, RenderOptions, Substitution};

/// Variables and how strictly to apply them, once it is known that substitution runs.
#[derive(Debug)]
struct Active {
    vars: Vars,
    mode: Mode,
}

/// Reads the variables of `options` and decides whether substitution runs.
fn activate(options: &RenderOptions) -> Result<Option<Active>, Error> {
    let vars = vars::collect(&options.vars)?;
    let mode = match options.substitution {
        Substitution::Off => return Ok(None),
        Substitution::WhenDefined | Substitution::WhenDefinedLenient if vars.is_empty() => {
            return Ok(None)
        }
        Substitution::WhenDefinedLenient | Substitution::Lenient => Mode::Lenient,
        Substitution::WhenDefined | Substitution::Strict => Mode::Strict,
    };
    Ok(Some(Active { vars, mode }))
}

/// Renders every input path of `options` into one ordered, validated stream. There is no stdin
/// here: a path `-` is an error (see [`render_with_stdin`]).
pub fn render(options: &RenderOptions) -> Result<Vec<Object>, Error> {
    render_inputs(options, None)
}

/// As [`render`], reading the path `-` from `stdin` (the caller's, handed over by its entry
/// point: this crate never reads the process's stdin itself).
pub fn render_with_stdin(
    options: &RenderOptions,
    stdin: &mut dyn Read,
) -> Result<Vec<Object>, Error> {
    render_inputs(options, Some(stdin))
}

fn render_inputs(
    options: &RenderOptions,
    mut stdin: Option<&mut dyn Read>,
) -> Result<Vec<Object>, Error> {
    let substitution = activate(options)?;
    let substitution = substitution.as_ref();
    let kustomize = kustomize::Options {
        load_restrictor: options.load_restrictor,
        helm_command: options.helm.command.clone(),
        remote: options.remote.clone(),
        helm_kube_version: options.helm.kube_version.clone(),
        helm_api_versions: options.helm.api_versions.clone(),
    };
    let mut charts = 0;
    let mut objects = Vec::new();
    let mut undefined = Vec::new();
    let mut keep_order = false;
    for path in &options.paths {
        match classify(path)? {
            Input::Stdin => {
                let Some(reader) = stdin.take() else {
                    return Err(Error::Invalid(
                        "-: standard input is not available to this render, or was read already"
                            .to_owned(),
                    ));
                };
                let name: Arc<str> = Arc::from("<stdin>");
                let text = manifest::read_stream(reader, &name)?;
                render_source(&text, &name, substitution, &mut undefined, &mut objects)?;
            }
            Input::Plain => {
                for (name, text) in manifest::read_sources(path)? {
                    render_source(&text, &name, substitution, &mut undefined, &mut objects)?;
                }
            }
            Input::PlainDir {
                files,
                kustomizations,
            } => {
                // Files are independent: parse them on every core, keep their order.
                let rendered = parallel_map(&files, |file| {
                    let name: Arc<str> = Arc::from(file.display().to_string());
                    let text = manifest::read_text(file, &name)?;
                    let (mut objs, mut undef) = (Vec::new(), Vec::new());
                    render_source(&text, &name, substitution, &mut undef, &mut objs)?;
                    Ok::<_, Error>((objs, undef))
                });
                for result in rendered {
                    let (objs, undef) = result?;
                    objects.extend(objs);
                    undefined.extend(undef);
                }
                for dir in kustomizations {
                    let built = kustomize::build(&dir, &kustomize)?;
                    substitute_built(built, substitution, &mut undefined, &mut objects)?;
                }
            }
            Input::Kustomization => {
                let built = kustomize::build(path, &kustomize)?;
                // kustomize decides the order (legacy or fifo); with one input we keep it.
                keep_order = options.paths.len() == 1;
                substitute_built(built, substitution, &mut undefined, &mut objects)?;
            }
            Input::Chart => {
                charts += 1;
                let rendered = helm::template(path, &options.helm, options.namespace.as_deref())?;
                substitute_built(rendered, substitution, &mut undefined, &mut objects)?;
            }
        }
    }
    if charts == 0 && options.helm.has_chart_settings() {
        // Never silently ignored: values or a release name meant for a chart that is not there.
        return Err(Error::HelmSettingsUnused);
    }
    finish(objects, undefined, options.namespace.as_deref(), keep_order)
}

/// Renders plain YAML/JSON text that did not come from a file on disk (a Git blob, a request
/// body) exactly as a file named `name` would be rendered, including the final validation,
/// namespace defaulting and ordering; `options.paths` and `options.helm` are not used.
pub fn render_text(name: &str, text: &str, options: &RenderOptions) -> Result<Vec<Object>, Error> {
    let substitution = activate(options)?;
    let name: Arc<str> = Arc::from(name);
    let (mut objects, mut undefined) = (Vec::new(), Vec::new());
    render_source(
        text,
        &name,
        substitution.as_ref(),
        &mut undefined,
        &mut objects,
    )?;
    finish(objects, undefined, options.namespace.as_deref(), false)
}

/// What every stream goes through once all inputs are read.
fn finish(
    mut objects: Vec<Object>,
    undefined: Vec<(String, Location)>,
    namespace: Option<&str>,
    keep_order: bool,
) -> Result<Vec<Object>, Error> {
    if !undefined.is_empty() {
        return Err(Error::Undefined(undefined));
    }
    for obj in &objects {
        obj.validate()?;
    }
    if let Some(ns) = namespace {
        manifest::default_namespace(&mut objects, ns);
    }
    manifest::check_unique(&objects)?;
    if !keep_order {
        manifest::sort(&mut objects);
    }
    Ok(objects)
}

/// `f` over `items` on up to one thread per core, results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 16 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

enum Input {
    /// `-`.
    Stdin,
    /// A file.
    Plain,
    /// A directory of plain manifests; subdirectories holding a kustomization are built as such
    /// (as Flux does when it generates a kustomization for a plain directory).
    PlainDir {
        files: Vec<PathBuf>,
        kustomizations: Vec<PathBuf>,
    },
    Kustomization,
    Chart,
}

fn classify(path: &Path) -> Result<Input, Error> {
    if path.as_os_str() == "-" {
        return Ok(Input::Stdin);
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return Ok(Input::Plain);
    }
    if kustomize::kustomization_file(path).is_some() {
        return Ok(Input::Kustomization);
    }
    if path.join("Chart.yaml").is_file() {
        return Ok(Input::Chart);
    }
    let mut files = Vec::new();
    let mut kustomizations = Vec::new();
    for file in manifest::manifest_files(path)? {
        match file.parent().and_then(kustomization_root(path)) {
            Some(root) => {
                if !kustomizations.contains(&root) {
                    kustomizations.push(root);
                }
            }
            None => files.push(file),
        }
    }
    Ok(Input::PlainDir {
        files,
        kustomizations,
    })
}

/// For a directory below `top`, the outermost directory between them that holds a
/// kustomization, if any.
fn kustomization_root(top: &Path) -> impl Fn(&Path) -> Option<PathBuf> + '_ {
    move |dir: &Path| {
        let rel = dir.strip_prefix(top).ok()?;
        let mut current = top.to_path_buf();
        for part in rel.components() {
            current.push(part);
            if kustomize::kustomization_file(&current).is_some() {
                return Some(current);
            }
        }
        None
    }
}

/// Parses one file's text document by document, substituting where asked.
fn render_source(
    text: &str,
    name: &Arc<str>,
    substitution: Option<&Active>,
    undefined: &mut Vec<(String, Location)>,
    out: &mut Vec<Object>,
) -> Result<(), Error> {
    if manifest::looks_like_json(text) {
        let text = match substitution {
            Some(sub) if text.contains('$') => {
                let before = undefined.len();
                let text = envsubst::substitute(text, &sub.vars, sub.mode, name, 1, undefined)?;
                if undefined.len() > before {
                    return Ok(());
                }
                text
            }
            _ => text.to_owned(),
        };
        out.extend(manifest::parse_stream(&text, name)?);
        return Ok(());
    }
    for doc in manifest::split_documents(text) {
        let line = manifest::content_line(&doc);
        let source = Source::new(name.clone(), line);
        let value = match substitution {
            Some(sub) if doc.text.contains('$') => substitute_document(&doc, name, sub, undefined)?,
            _ => manifest::parse_document(&doc, name)?,
        };
        if let Some(value) = value {
            manifest::push_flattened(value, source, out)?;
        }
    }
    Ok(())
}

fn substitute_document(
    doc: &Document<'_>,
    name: &Arc<str>,
    sub: &Active,
    undefined: &mut Vec<(String, Location)>,
) -> Result<Option<serde_json::Value>, Error> {
    // The opt-out annotation can only be seen once the document is parsed; a document that only
    // becomes valid YAML after substitution cannot carry it.
    // (Only documents that mention the annotation are parsed twice.)
    if doc.text.contains(envsubst::DISABLE_KEY) {
        if let Ok(Some(parsed)) = manifest::parse_document(doc, name) {
            let probe = Object::new(parsed, Source::new(name.clone(), doc.first_line));
            if envsubst::is_disabled(&probe) {
                return Ok(Some(probe.value));
            }
        }
    }
    let before = undefined.len();
    let text = envsubst::substitute(
        doc.text,
        &sub.vars,
        sub.mode,
        name,
        doc.first_line,
        undefined,
    )?;
    if undefined.len() > before {
        // Strict mode reports every missing variable at the end; what the text would parse to
        // without them does not matter.
        return Ok(None);
    }
    one_document(&text, &Location::new(&**name, doc.first_line, 0))?;
    let substituted = Document {
        text: &text,
        first_line: doc.first_line,
    };
    manifest::parse_document(&substituted, name).map_err(|e| match e {
        gitops::Error::Syntax { at, message } => Error::Input(gitops::Error::Syntax {
            at,
            message: format!("{message} (after substitution)"),
        }),
        other => Error::Input(other),
    })
}

/// A document's text after substitution must still be one document: a value holding a `---`
/// line would split it (Flux's envsubst would apply the pieces as separate objects).
fn one_document(text: &str, at: &Location) -> Result<(), Error> {
    let docs = manifest::split_documents(text);
    if let Some(second) = docs.get(1) {
        let line = at.line + second.first_line - 1;
        return Err(Error::Input(gitops::Error::Substitution {
            at: Location::new(at.file.clone(), line.max(1), 0),
            message: "a substituted value holds a `---` line, which would start another YAML document; quote the value or remove the marker".to_owned(),
        }));
    }
    Ok(())
}

/// Flux's postBuild: substitute each built object's YAML, unless it opted out.
fn substitute_built(
    built: Vec<Object>,
    substitution: Option<&Active>,
    undefined: &mut Vec<(String, Location)>,
    out: &mut Vec<Object>,
) -> Result<(), Error> {
    let Some(sub) = substitution else {
        out.extend(built);
        return Ok(());
    };
    for obj in built {
        if envsubst::is_disabled(&obj) {
            out.push(obj);
            continue;
        }
        let text = manifest::to_yaml(&obj.value);
        if !text.contains('$') {
            out.push(obj);
            continue;
        }
        // Positions inside generated YAML mean nothing to the user; name the object instead.
        let name: Arc<str> = Arc::from(format!("{} ({})", obj.source.file, obj.identity().short()));
        let before = undefined.len();
        let substituted = envsubst::substitute(&text, &sub.vars, sub.mode, &name, 1, undefined)?;
        if undefined.len() > before {
            continue;
        }
        one_document(&substituted, &Location::new(&*name, 1, 0))?;
        let doc = Document {
            text: &substituted,
            first_line: 1,
        };
        if let Some(value) = manifest::parse_document(&doc, &name)? {
            manifest::push_flattened(value, obj.source.clone(), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VarSource;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  env: ${ENV}\n  level: ${LEVEL:=info}\n";

    fn data(objects: &[Object], key: &str) -> String {
        objects[0].value["data"][key].as_str().unwrap().to_owned()
    }

    fn with(substitution: Substitution, vars: Vec<VarSource>) -> RenderOptions {
        RenderOptions {
            substitution,
            vars,
            ..RenderOptions::default()
        }
    }

    #[test]
    fn substitution_modes() {
        let none = Vec::new();
        let env = vec![VarSource::Var("ENV".into(), "dev".into())];
        let off = render_text("cm.yaml", CM, &with(Substitution::Off, env.clone())).unwrap();
        assert_eq!(data(&off, "env"), "${ENV}");
        let idle = render_text(
            "cm.yaml",
            CM,
            &with(Substitution::WhenDefined, none.clone()),
        );
        assert_eq!(data(&idle.unwrap(), "level"), "${LEVEL:=info}");
        let on = render_text("cm.yaml", CM, &with(Substitution::WhenDefined, env)).unwrap();
        assert_eq!(
            (data(&on, "env"), data(&on, "level")),
            ("dev".into(), "info".into())
        );
        let lenient = render_text("cm.yaml", CM, &with(Substitution::Lenient, none.clone()));
        // Substituted on the source text, as `flux envsubst`: `env: ` is YAML's null.
        let lenient = lenient.unwrap();
        assert!(
            lenient[0].value["data"]["env"].is_null(),
            "{:?}",
            lenient[0].value
        );
        assert_eq!(data(&lenient, "level"), "info");
        let err = render_text("cm.yaml", CM, &with(Substitution::Strict, none)).unwrap_err();
        assert!(
            matches!(err, Error::Undefined(ref v) if v.len() == 1),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "undefined variables: ENV (cm.yaml:6:8)");
    }

    #[test]
    fn namespace_defaulting_and_order_as_for_files() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n";
        let options = RenderOptions {
            namespace: Some("apps".into()),
            ..RenderOptions::default()
        };
        let objects = render_text("x.yaml", text, &options).unwrap();
        let kinds: Vec<_> = objects.iter().map(|o| o.value["kind"].clone()).collect();
        assert_eq!(kinds, ["Namespace", "Deployment"]);
        assert_eq!(objects[1].value["metadata"]["namespace"], "apps");
        assert!(objects[0].value["metadata"].get("namespace").is_none());
    }

    #[test]
    fn stdin_only_when_given() {
        let options = RenderOptions {
            paths: vec![PathBuf::from("-")],
            ..RenderOptions::default()
        };
        let err = render(&options).unwrap_err();
        assert_eq!(
            err.to_string(),
            "-: standard input is not available to this render, or was read already"
        );
        let objects = render_with_stdin(&options, &mut CM.as_bytes()).unwrap();
        assert_eq!(objects[0].source.file.as_ref(), "<stdin>");
    }

    #[test]
    fn a_directory_on_disk_with_a_kustomization_and_a_vars_file() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("cm.yaml"), CM).unwrap();
        std::fs::write(
            app.join("kustomization.yaml"),
            "resources: [cm.yaml]\nnamePrefix: p-\n",
        )
        .unwrap();
        let vars = dir.path().join("dev.env");
        std::fs::write(&vars, "ENV=dev\n").unwrap();
        let options = RenderOptions {
            paths: vec![app],
            vars: vec![VarSource::File(vars)],
            ..RenderOptions::default()
        };
        let objects = render(&options).unwrap();
        assert_eq!(objects[0].value["metadata"]["name"], "p-c");
        assert_eq!(data(&objects, "env"), "dev");
    }

    #[test]
    fn restricted_files_are_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(dir.path().join("cm.yaml"), CM).unwrap();
        std::fs::write(sub.join("kustomization.yaml"), "resources: [../cm.yaml]\n").unwrap();
        let mut options = RenderOptions {
            paths: vec![sub.clone()],
            ..RenderOptions::default()
        };
        let err = render(&options).unwrap_err();
        assert!(
            matches!(&err, Error::Restricted { entry, field, .. } if entry == "../cm.yaml" && field == "resources"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.ends_with("(kustomize's load restrictor)"), "{text}");
        assert!(
            !text.contains("--"),
            "no flags in the engine's messages: {text}"
        );
        options.load_restrictor = crate::LoadRestrictor::None;
        assert_eq!(render(&options).unwrap().len(), 1);
    }

    #[test]
    fn missing_helm_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        )
        .unwrap();
        let program = dir.path().join("no-such-helm");
        let options = RenderOptions {
            paths: vec![dir.path().to_path_buf()],
            helm: crate::HelmOptions {
                command: Some(program.clone()),
                ..crate::HelmOptions::default()
            },
            ..RenderOptions::default()
        };
        let err = render(&options).unwrap_err();
        assert!(
            matches!(&err, Error::HelmNotFound { program: p, .. } if *p == program),
            "{err:?}"
        );
        assert!(!err.to_string().contains("--"), "{err}");
    }
}
