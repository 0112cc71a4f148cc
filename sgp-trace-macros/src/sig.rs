//! Reading and rewriting function signatures: the argument bindings, the kind of return
//! type, and the elided lifetimes a desugared `async fn` must name.

use proc_macro2::Span;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, Lifetime, LifetimeParam, Pat, PathArguments,
    ReturnType, Signature, Type,
};

/// One name an argument binds, in signature order.
pub(crate) struct Binding {
    /// The binding as written (its span resolves to the argument); `self` for the receiver.
    pub(crate) ident: Ident,
    /// Whether it is the receiver.
    pub(crate) is_self: bool,
}

/// Every name the arguments bind, patterns included (`(a, b): (u8, u8)` binds `a` and `b`).
pub(crate) fn bindings(sig: &Signature) -> Vec<Binding> {
    let mut out = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => out.push(Binding {
                ident: Ident::new("self", receiver.self_token.span),
                is_self: true,
            }),
            FnArg::Typed(typed) => pattern_bindings(&typed.pat, &mut out),
        }
    }
    out
}

fn pattern_bindings(pat: &Pat, out: &mut Vec<Binding>) {
    struct Collect<'a>(&'a mut Vec<Binding>);
    impl<'ast> Visit<'ast> for Collect<'_> {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.push(Binding {
                ident: pat.ident.clone(),
                is_self: pat.ident == "self",
            });
            syn::visit::visit_pat_ident(self, pat);
        }
        // Constants and enum variants in patterns are paths, not bindings; types and
        // expressions inside patterns bind nothing.
        fn visit_type(&mut self, _: &'ast Type) {}
        fn visit_expr(&mut self, _: &'ast syn::Expr) {}
    }
    Collect(out).visit_pat(pat);
}

/// What the function returns, as far as the macro records it.
pub(crate) enum Returns {
    /// Nothing (`()`): no output.
    Unit,
    /// A `Result` (any type whose last path segment is `Result`): `Ok` is the output,
    /// `Err` fails the span.
    Result { ok_is_unit: bool },
    /// Anything else: the value is the output.
    Value,
}

pub(crate) fn returns(ty: Option<&Type>) -> Returns {
    let Some(ty) = ty else {
        return Returns::Unit;
    };
    match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => Returns::Unit,
        Type::Paren(paren) => returns(Some(&paren.elem)),
        Type::Group(group) => returns(Some(&group.elem)),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Returns::Value;
            };
            if last.ident != "Result" {
                return Returns::Value;
            }
            let ok_is_unit = match &last.arguments {
                PathArguments::AngleBracketed(args) => matches!(
                    args.args.first(),
                    Some(GenericArgument::Type(Type::Tuple(tuple))) if tuple.elems.is_empty()
                ),
                _ => false,
            };
            Returns::Result { ok_is_unit }
        }
        _ => Returns::Value,
    }
}

/// The return type as written, `None` for `-> ()` written as nothing.
pub(crate) fn return_type(sig: &Signature) -> Option<&Type> {
    match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// Whether a type mentions `impl Trait`, which cannot be written in a `let`.
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut find = Find(false);
    find.visit_type(ty);
    find.0
}

/// The `Output` type of the `dyn Future` that `#[async_trait]` methods return.
pub(crate) fn future_output(ty: &Type) -> Option<Type> {
    struct Find(Option<Type>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_assoc_type(&mut self, assoc: &'ast syn::AssocType) {
            if assoc.ident == "Output" && self.0.is_none() {
                self.0 = Some(assoc.ty.clone());
            }
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0
}

/// Names every elided lifetime of the arguments (`&T`, `&self`, `'_`) so that the
/// `impl Future` of a desugared `async fn` can capture them, and adds them to the generics.
/// Returns every lifetime parameter of the function afterwards.
pub(crate) fn name_elided_lifetimes(sig: &mut Signature) -> Vec<Lifetime> {
    let mut namer = Namer {
        created: Vec::new(),
    };
    for input in &mut sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                if let Some((_, lifetime)) = &mut receiver.reference {
                    if lifetime.is_none() || lifetime.as_ref().is_some_and(|l| l.ident == "_") {
                        let named = namer.fresh();
                        *lifetime = Some(named.clone());
                        if let Type::Reference(reference) = &mut *receiver.ty {
                            reference.lifetime = Some(named);
                        }
                    }
                } else {
                    namer.visit_type_mut(&mut receiver.ty);
                }
            }
            FnArg::Typed(typed) => namer.visit_type_mut(&mut typed.ty),
        }
    }
    let created = namer.created;
    let position = sig
        .generics
        .params
        .iter()
        .take_while(|param| matches!(param, GenericParam::Lifetime(_)))
        .count();
    for (offset, lifetime) in created.iter().enumerate() {
        sig.generics.params.insert(
            position + offset,
            GenericParam::Lifetime(LifetimeParam::new(lifetime.clone())),
        );
    }
    sig.generics
        .lifetimes()
        .map(|l| l.lifetime.clone())
        .collect()
}

struct Namer {
    created: Vec<Lifetime>,
}

impl Namer {
    fn fresh(&mut self) -> Lifetime {
        let lifetime = Lifetime::new(
            &format!("'__sgp_life{}", self.created.len()),
            Span::call_site(),
        );
        self.created.push(lifetime.clone());
        lifetime
    }
}

impl VisitMut for Namer {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(self.fresh());
        }
        syn::visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.fresh();
        }
    }

    // Elided lifetimes in `fn(&T)` and `Fn(&T)` are higher-ranked: leave them alone.
    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
    fn visit_parenthesized_generic_arguments_mut(
        &mut self,
        _: &mut syn::ParenthesizedGenericArguments,
    ) {
    }
}

/// Removes `mut` from the argument bindings (the desugared body rebinds them) and returns
/// which bindings were mutable.
pub(crate) fn strip_mut(sig: &mut Signature) -> Vec<(Ident, bool)> {
    struct Strip(Vec<(Ident, bool)>);
    impl VisitMut for Strip {
        fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
            let mutable = pat.by_ref.is_none() && pat.mutability.take().is_some();
            self.0.push((pat.ident.clone(), mutable));
            syn::visit_mut::visit_pat_ident_mut(self, pat);
        }
        fn visit_type_mut(&mut self, _: &mut Type) {}
        fn visit_expr_mut(&mut self, _: &mut syn::Expr) {}
    }
    let mut strip = Strip(Vec::new());
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            strip.visit_pat_mut(&mut typed.pat);
        }
    }
    strip.0
}
