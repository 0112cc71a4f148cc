//! Parsing the arguments of `#[traced(...)]`. Nothing here generates code.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(no_output);
    syn::custom_keyword!(record_self);
    syn::custom_keyword!(metadata);
    syn::custom_keyword!(root);
    syn::custom_keyword!(group_id);
}

/// The span types of the SGP API, as written in `type = "..."`.
pub(crate) const SPAN_TYPES: [&str; 26] = [
    "TEXT_INPUT",
    "TEXT_OUTPUT",
    "COMPLETION_INPUT",
    "COMPLETION",
    "KB_RETRIEVAL",
    "KB_INPUT",
    "RERANKING",
    "EXTERNAL_ENDPOINT",
    "PROMPT_ENGINEERING",
    "DOCUMENT_INPUT",
    "MAP_REDUCE",
    "DOCUMENT_SEARCH",
    "DOCUMENT_PROMPT",
    "CUSTOM",
    "CODE_EXECUTION",
    "DATA_MANIPULATION",
    "EVALUATION",
    "FILE_RETRIEVAL",
    "KB_ADD_CHUNK",
    "KB_MANAGEMENT",
    "GUARDRAIL",
    "OUTPUT_GUARDRAIL",
    "TRACER",
    "AGENT_TRACER",
    "AGENT_WORKFLOW",
    "STANDALONE",
];

/// What `#[traced(...)]` asked for.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    /// The `SpanType` variant, such as `AgentWorkflow`.
    pub(crate) span_type: Option<Ident>,
    pub(crate) skip: Option<(kw::skip, Vec<Ident>)>,
    pub(crate) skip_all: Option<kw::skip_all>,
    pub(crate) no_output: Option<kw::no_output>,
    pub(crate) record_self: Option<kw::record_self>,
    pub(crate) metadata: Vec<(LitStr, Expr)>,
    pub(crate) root: Option<Root>,
}

/// `root` or `root(group_id = expr)`.
pub(crate) struct Root {
    pub(crate) group_id: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Args> {
        let mut args = Args::default();
        let mut seen_type = false;
        let mut seen_metadata = false;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::name) {
                let keyword: kw::name = input.parse()?;
                duplicate(args.name.is_some(), keyword.span, "name")?;
                input.parse::<Token![=]>()?;
                args.name = Some(input.parse()?);
            } else if lookahead.peek(Token![type]) {
                let keyword: Token![type] = input.parse()?;
                duplicate(seen_type, keyword.span, "type")?;
                seen_type = true;
                input.parse::<Token![=]>()?;
                args.span_type = Some(span_type(&input.parse()?)?);
            } else if lookahead.peek(kw::skip_all) {
                let keyword: kw::skip_all = input.parse()?;
                duplicate(args.skip_all.is_some(), keyword.span, "skip_all")?;
                args.skip_all = Some(keyword);
            } else if lookahead.peek(kw::skip) {
                let keyword: kw::skip = input.parse()?;
                duplicate(args.skip.is_some(), keyword.span, "skip")?;
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    Ident::parse_any,
                )?;
                args.skip = Some((keyword, names.into_iter().collect()));
            } else if lookahead.peek(kw::no_output) {
                let keyword: kw::no_output = input.parse()?;
                duplicate(args.no_output.is_some(), keyword.span, "no_output")?;
                args.no_output = Some(keyword);
            } else if lookahead.peek(kw::record_self) {
                let keyword: kw::record_self = input.parse()?;
                duplicate(args.record_self.is_some(), keyword.span, "record_self")?;
                args.record_self = Some(keyword);
            } else if lookahead.peek(kw::metadata) {
                let keyword: kw::metadata = input.parse()?;
                duplicate(seen_metadata, keyword.span, "metadata")?;
                seen_metadata = true;
                let content;
                syn::parenthesized!(content in input);
                args.metadata = parse_metadata(&content)?;
            } else if lookahead.peek(kw::root) {
                let keyword: kw::root = input.parse()?;
                duplicate(args.root.is_some(), keyword.span, "root")?;
                let mut group_id = None;
                if input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in input);
                    content.parse::<kw::group_id>()?;
                    content.parse::<Token![=]>()?;
                    group_id = Some(content.parse()?);
                    if !content.is_empty() {
                        return Err(content.error("expected only `group_id = <expression>`"));
                    }
                }
                args.root = Some(Root { group_id });
            } else if input.peek(Ident::peek_any) {
                let unknown = Ident::parse_any(input)?;
                return Err(syn::Error::new(
                    unknown.span(),
                    format!(
                        "unknown option `{unknown}`; expected one of: name, type, skip, \
                         skip_all, no_output, record_self, metadata, root"
                    ),
                ));
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        args.check_conflicts()?;
        Ok(args)
    }
}

impl Args {
    /// Rejects options that contradict each other, all at once.
    fn check_conflicts(&self) -> syn::Result<()> {
        let mut errors: Vec<syn::Error> = Vec::new();
        if let (Some(skip_all), Some((skip, _))) = (&self.skip_all, &self.skip) {
            errors.push(syn::Error::new(
                skip.span,
                "`skip(...)` conflicts with `skip_all`, which already leaves out every argument",
            ));
            let _ = skip_all;
        }
        if let (Some(_), Some(record_self)) = (&self.skip_all, &self.record_self) {
            errors.push(syn::Error::new(
                record_self.span,
                "`record_self` conflicts with `skip_all`, which leaves out every argument",
            ));
        }
        if let (Some((_, names)), Some(_)) = (&self.skip, &self.record_self) {
            if let Some(self_name) = names.iter().find(|name| *name == "self") {
                errors.push(syn::Error::new(
                    self_name.span(),
                    "`skip(self)` conflicts with `record_self`",
                ));
            }
        }
        let combined = errors.into_iter().reduce(|mut all, error| {
            all.combine(error);
            all
        });
        match combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

fn duplicate(seen: bool, span: Span, option: &str) -> syn::Result<()> {
    if seen {
        Err(syn::Error::new(
            span,
            format!("duplicate option `{option}`; give it once"),
        ))
    } else {
        Ok(())
    }
}

/// `"AGENT_WORKFLOW"` to the variant `AgentWorkflow`, or an error listing the valid names.
fn span_type(literal: &LitStr) -> syn::Result<Ident> {
    let value = literal.value();
    if !SPAN_TYPES.contains(&value.as_str()) {
        return Err(syn::Error::new_spanned(
            literal,
            format!(
                "unknown span type \"{value}\"; expected one of: {}",
                SPAN_TYPES.join(", ")
            ),
        ));
    }
    let variant: String = value
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first
                .into_iter()
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect();
    Ok(Ident::new(&variant, literal.span()))
}

/// `key = expr, "other-key" = expr, ...` with distinct keys.
fn parse_metadata(input: ParseStream<'_>) -> syn::Result<Vec<(LitStr, Expr)>> {
    let mut entries: Vec<(LitStr, Expr)> = Vec::new();
    while !input.is_empty() {
        let key = if input.peek(LitStr) {
            input.parse::<LitStr>()?
        } else {
            let ident = Ident::parse_any(input)?;
            LitStr::new(&ident.unraw().to_string(), ident.span())
        };
        if entries.iter().any(|(seen, _)| seen.value() == key.value()) {
            return Err(syn::Error::new_spanned(
                &key,
                format!("duplicate metadata key \"{}\"", key.value()),
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        entries.push((key, value));
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(entries)
}
