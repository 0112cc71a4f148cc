//! Generating the traced function. Nothing here parses the attribute's arguments.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    parse_quote, Attribute, Block, Expr, FnArg, Ident, Signature, Stmt, Token, Type, Visibility,
};

use crate::attr::Args;
use crate::sig::{self, Binding, Returns};

/// A function whose body is kept as tokens: a body that does not parse is the user's error
/// to see where it is, not inside the macro's output.
pub(crate) struct MaybeItemFn {
    outer_attrs: Vec<Attribute>,
    inner_attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: TokenStream,
}

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<MaybeItemFn> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new_spanned(
                &sig.ident,
                "#[traced] needs a function with a body",
            ));
        }
        let content;
        syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(MaybeItemFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            body,
        })
    }
}

/// The identifiers of the expansion, hygienic so that the body can neither see nor shadow
/// them.
struct Names {
    span: Ident,
    out: Ident,
    ok: Ident,
    err: Ident,
    recording: Ident,
    outcome: Ident,
}

impl Names {
    fn new() -> Names {
        let ident = |name: &str| Ident::new(name, Span::mixed_site());
        Names {
            span: ident("__sgp_span"),
            out: ident("__sgp_out"),
            ok: ident("__sgp_ok"),
            err: ident("__sgp_err"),
            recording: ident("__sgp_recording"),
            outcome: ident("__sgp_outcome"),
        }
    }
}

pub(crate) fn expand(args: Args, item: MaybeItemFn) -> syn::Result<TokenStream> {
    if let Some(constness) = &item.sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            "#[traced] cannot be used on a `const fn`: a span cannot be recorded at compile time",
        ));
    }
    let bindings = sig::bindings(&item.sig);
    let recorded = recorded_arguments(&args, &item.sig, &bindings)?;
    let names = Names::new();
    let start = span_start(&args, &recorded, &names);

    if item.sig.asyncness.is_some() {
        return Ok(expand_async_fn(&args, item, start, &names));
    }
    if let Some(expanded) = expand_async_trait(&args, &item, &start, &names) {
        return Ok(expanded);
    }
    Ok(expand_sync(&args, item, start, &names))
}

/// The bindings recorded as input, after checking that every `skip` names an argument.
fn recorded_arguments<'a>(
    args: &Args,
    sig: &Signature,
    bindings: &'a [Binding],
) -> syn::Result<Vec<&'a Binding>> {
    let mut errors: Option<syn::Error> = None;
    let mut report = |error: syn::Error| match &mut errors {
        Some(all) => all.combine(error),
        None => errors = Some(error),
    };
    let skipped: &[Ident] = args.skip.as_ref().map_or(&[], |(_, names)| names);
    for name in skipped {
        if !bindings.iter().any(|binding| binding.ident == *name) {
            report(syn::Error::new(
                name.span(),
                format!("`{name}` is not an argument of `{}`", sig.ident),
            ));
        }
    }
    let has_self = bindings.iter().any(|binding| binding.is_self);
    if let (Some(record_self), false) = (&args.record_self, has_self) {
        report(syn::Error::new(
            record_self.span,
            format!(
                "`record_self` needs a method with a `self` argument; `{}` has none",
                sig.ident
            ),
        ));
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    if args.skip_all.is_some() {
        return Ok(Vec::new());
    }
    Ok(bindings
        .iter()
        .filter(|binding| !skipped.contains(&binding.ident))
        .filter(|binding| !binding.is_self || args.record_self.is_some())
        .collect())
}

/// The expression that starts the span (detached) when it would be recorded, serializing
/// the arguments only then.
fn span_start(args: &Args, recorded: &[&Binding], names: &Names) -> TokenStream {
    let is_root = args.root.is_some();
    let (marker, name) = match &args.name {
        Some(name) => (quote!(), quote!(#name)),
        None => (
            quote! {
                fn __sgp_trace_fn() {}
                static __SGP_TRACE_FN_PATH: ::std::sync::OnceLock<&'static str> =
                    ::std::sync::OnceLock::new();
            },
            quote!(::sgp_trace::macro_support::function_path(
                &__SGP_TRACE_FN_PATH,
                __sgp_trace_fn
            )),
        ),
    };
    let builder = Ident::new("__sgp_builder", Span::mixed_site());
    let input = Ident::new("__sgp_input", Span::mixed_site());
    let span_type = args
        .span_type
        .as_ref()
        .map(|variant| quote!(#builder = #builder.span_type(::sgp_trace::SpanType::#variant);));
    let input_fields = if recorded.is_empty() {
        None
    } else {
        let fields = recorded.iter().map(|binding| {
            let ident = &binding.ident;
            let key = ident.to_string();
            let name = key.strip_prefix("r#").unwrap_or(&key);
            // An identifier needs no JSON escapes; `Key::new` checks that at compile time.
            let json_key = format!("\"{name}\":");
            quote! {
                (&&&::sgp_trace::macro_support::Wrap(&#ident)).sgp_input(
                    &mut #input,
                    const { ::sgp_trace::macro_support::Key::new(#json_key) },
                );
            }
        });
        Some(quote! {
            #[allow(unused_imports)]
            use ::sgp_trace::macro_support::{
                ViaDebug as _, ViaPlaceholder as _, ViaSerialize as _,
            };
            let mut #input = ::sgp_trace::macro_support::Input::new();
            #(#fields)*
            #builder = #builder.input_object(#input.finish());
        })
    };
    let metadata = args
        .metadata
        .iter()
        .map(|(key, value)| quote!(#builder = #builder.metadata(#key, &(#value));));
    let group_id = args
        .root
        .as_ref()
        .and_then(|root| root.group_id.as_ref())
        .map(|group_id| {
            quote! {
                if let ::core::option::Option::Some(id) =
                    ::sgp_trace::macro_support::group_id(#group_id)
                {
                    #builder = #builder.group_id(id);
                }
            }
        });
    let span = &names.span;
    quote! {
        #[allow(unused_mut)]
        let mut #span = if ::sgp_trace::macro_support::would_record(#is_root) {
            #marker
            let mut #builder =
                ::sgp_trace::macro_support::recorded_builder(#name, #is_root);
            #span_type
            #input_fields
            #(#metadata)*
            #group_id
            #builder.start_detached()
        } else {
            ::sgp_trace::Span::noop()
        };
    }
}

/// The expression computing the `Outcome` of the value in `names.out`, or `None` when
/// there is nothing to record.
fn outcome(args: &Args, returns: &Returns, names: &Names) -> Option<TokenStream> {
    let Names { out, ok, err, .. } = names;
    let record_output = args.no_output.is_none();
    let output_of = |value: TokenStream| {
        quote!(::sgp_trace::macro_support::Outcome::output(
            (&&&::sgp_trace::macro_support::Wrap(#value)).sgp_output()
        ))
    };
    let uses = quote! {
        #[allow(unused_imports)]
        use ::sgp_trace::macro_support::{
            CategoryByDefault as _, CategoryViaTrait as _, MessageViaDebug as _,
            MessageViaDisplay as _, MessageViaTypeName as _, ViaDebug as _, ViaPlaceholder as _,
            ViaSerialize as _,
        };
    };
    match returns {
        Returns::Unit => None,
        Returns::Value if !record_output => None,
        Returns::Value => {
            let output = output_of(quote!(&#out));
            Some(quote!({ #uses #output }))
        }
        Returns::Result { ok_is_unit } => {
            let ok_outcome = if record_output && !ok_is_unit {
                output_of(quote!(#ok))
            } else {
                quote!(::sgp_trace::macro_support::Outcome::none())
            };
            Some(quote!({
                #uses
                match &#out {
                    ::core::result::Result::Ok(#ok) => {
                        let _ = &#ok;
                        #ok_outcome
                    }
                    ::core::result::Result::Err(#err) => ::sgp_trace::macro_support::Outcome::error(
                        ::sgp_trace::macro_support::type_name_of(#err),
                        (&&&::sgp_trace::macro_support::Wrap(#err)).sgp_error_message(),
                        (&&::sgp_trace::macro_support::Wrap(#err)).sgp_error_category(),
                    ),
                }
            }))
        }
    }
}

/// A statement that never runs but tells type inference what the body returns, so that `?`
/// and `.into()` in a closure or async block infer as they would in the function itself.
fn fake_return(ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) if !sig::has_impl_trait(ty) => {
            // Located at the return type, so that a mismatch notes where the type came from.
            let fake = Ident::new(
                "__sgp_fake_return",
                Span::mixed_site().located_at(ty.span()),
            );
            quote! {
                #[allow(
                    unknown_lints, unreachable_code, clippy::diverging_sub_expression,
                    clippy::empty_loop, clippy::let_unit_value, clippy::let_with_type_underscore,
                    clippy::needless_return, clippy::unreachable
                )]
                if false {
                    let #fake: #ty = loop {};
                    return #fake;
                }
            }
        }
        _ => quote!(),
    }
}

fn expand_sync(args: &Args, item: MaybeItemFn, start: TokenStream, names: &Names) -> TokenStream {
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        body,
    } = item;
    let ret = sig::return_type(&sig);
    let fake = fake_return(ret);
    let Names { span, out, .. } = names;
    let record = outcome(args, &sig::returns(ret), names).map(|outcome| {
        quote! {
            if #span.is_recording() {
                ::sgp_trace::macro_support::Outcome::end(#outcome, &mut #span);
            }
        }
    });
    let body = quote_spanned!(Span::call_site()=> move || { #fake #body });
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #start
            #[allow(clippy::let_unit_value)]
            let #out = ::sgp_trace::macro_support::call_sync(&mut #span, #body);
            #record
            #out
        }
    }
}

/// The instrumented future: `prelude` (the rebinding of arguments) runs first, then the
/// user's future is awaited and its outcome computed while the return type is known.
/// Returns the statements to put before it and the future expression.
fn instrumented(
    args: &Args,
    returns: &Returns,
    prelude: TokenStream,
    future: TokenStream,
    names: &Names,
) -> (TokenStream, TokenStream) {
    let Names {
        span,
        out,
        recording,
        outcome: outcome_var,
        ..
    } = names;
    match outcome(args, returns, names) {
        Some(outcome) => (
            quote!(let #recording = #span.is_recording();),
            quote! {
                ::sgp_trace::macro_support::Instrumented::new(#span, async move {
                    #prelude
                    let #out = #future.await;
                    let #outcome_var = if #recording {
                        #outcome
                    } else {
                        ::sgp_trace::macro_support::Outcome::none()
                    };
                    (#out, #outcome_var)
                })
            },
        ),
        None => (
            quote!(),
            quote! {
                ::sgp_trace::macro_support::Instrumented::new(#span, async move {
                    #prelude
                    (#future.await, ::sgp_trace::macro_support::Outcome::none())
                })
            },
        ),
    }
}

/// `async fn` becomes `fn -> impl Future`, so that the span starts (and the parent is taken)
/// where the function is called, not where the future is first polled.
fn expand_async_fn(
    args: &Args,
    item: MaybeItemFn,
    start: TokenStream,
    names: &Names,
) -> TokenStream {
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig: original,
        body,
    } = item;
    let mut sig = original.clone();
    sig.asyncness = None;
    let lifetimes = sig::name_elided_lifetimes(&mut sig);
    // Every argument moves into the future, as with `async fn`, so that arguments the body
    // does not use are dropped with the future, not at the call.
    let rebind = sig::strip_mut(&mut sig)
        .into_iter()
        .map(|(ident, mutable)| {
            let mutability = mutable.then(|| quote!(mut));
            quote! {
                #[allow(unused_variables)]
                let #mutability #ident = #ident;
            }
        });
    let prelude = quote!(#(#rebind)*);
    let ret: Type = sig::return_type(&original)
        .cloned()
        .unwrap_or_else(|| parse_quote!(()));
    let has_receiver = matches!(sig.inputs.first(), Some(FnArg::Receiver(_)));
    let self_capture = has_receiver.then(|| quote!(::core::marker::PhantomData<Self>,));
    let captures = if lifetimes.is_empty() && !has_receiver {
        quote!()
    } else {
        quote!(+ ::sgp_trace::macro_support::Captures<(#(&#lifetimes (),)* #self_capture)>)
    };
    sig.output = parse_quote!(-> impl ::core::future::Future<Output = #ret> #captures);
    let fake = fake_return(Some(&ret));
    let user_future = quote!(async move { #fake #body });
    let (before, future) =
        instrumented(args, &sig::returns(Some(&ret)), prelude, user_future, names);
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #start
            #before
            #future
        }
    }
}

/// A method already expanded by `#[async_trait]`: its body ends in
/// `Box::pin(async move { ... })`. The future inside is instrumented, and the span starts
/// when the method is called.
fn expand_async_trait(
    args: &Args,
    item: &MaybeItemFn,
    start: &TokenStream,
    names: &Names,
) -> Option<TokenStream> {
    let body = &item.body;
    let block: Block = syn::parse2(quote!({ #body })).ok()?;
    let (last, rest) = block.stmts.split_last()?;
    let Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(future)) = call.args.first() else {
        return None;
    };
    let output = sig::return_type(&item.sig).and_then(sig::future_output);
    let returns = match &output {
        Some(ty) => sig::returns(Some(ty)),
        None => Returns::Value,
    };
    let (before, instrumented) = instrumented(args, &returns, quote!(), quote!(#future), names);
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        ..
    } = item;
    Some(quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #start
            #before
            #(#rest)*
            #func(#instrumented)
        }
    })
}
