//! Builders of the schema of a governance error's body: this module's own
//! schemas are built with them, and so is what `#[governance(openapi)]`
//! generates (which reaches them as `tappass::__private::openapi`). Not
//! public API.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AnyOfBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

pub use utoipa;

/// The schemas that a type's schema refers to, as `ToSchema::schemas` collects them.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// A field that `#[derive(GovernanceError)]` describes in the OpenAPI schema
/// of the body.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no OpenAPI schema, so `#[governance(openapi)]` cannot describe this field of the body",
    note = "derive or implement `utoipa::ToSchema` for it, or keep the field out of the body with `#[governance(skip)]`"
)]
pub trait SchemaField: ToSchema {}

impl<T: ToSchema + ?Sized> SchemaField for T {}

/// The inner error of a `transparent` case, whose schema the case refers to.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no OpenAPI schema, so `#[governance(openapi)]` cannot describe this `transparent` case",
    note = "add `#[governance(openapi)]` to the inner error's own `#[derive(GovernanceError)]`, or implement `utoipa::ToSchema` for it"
)]
pub trait SchemaCase: ToSchema {}

impl<T: ToSchema + ?Sized> SchemaCase for T {}

/// One case of a governance error: its `error` code when it is fixed, and the
/// schema of its body.
pub type CaseSchema = (Option<&'static str>, RefOr<Schema>);

/// The schema of one case's body, built field by field; what the fields'
/// schemas refer to goes to `references`.
#[must_use]
pub struct Case<'r> {
    object: ObjectBuilder,
    keys: Vec<&'static str>,
    code: Option<&'static str>,
    references: &'r mut Schemas,
}

impl<'r> Case<'r> {
    /// A case answered with `status`; `code` is its `error` code when fixed
    /// (`None` when it is read from a field), `message` its fixed public
    /// message when it has one.
    pub fn new(
        references: &'r mut Schemas,
        status: u16,
        code: Option<&'static str>,
        docs: Option<&'static str>,
        message: Option<&'static str>,
    ) -> Case<'r> {
        let error = match code {
            Some(code) => string().enum_values(Some([code])),
            None => string(),
        }
        .description(Some("The case's code."));
        let message = match message {
            Some(fixed) => string().enum_values(Some([fixed])).description(Some(
                "A fixed message: the details go to the service's logs.",
            )),
            None => string().description(Some("What happened, in words.")),
        };
        let title = code.map(str::to_owned);
        let description = match docs {
            Some(docs) => format!("HTTP {status}. {docs}"),
            None => format!("HTTP {status}."),
        };
        Case {
            object: ObjectBuilder::new()
                .schema_type(Type::Object)
                .title(title)
                .description(Some(description))
                .property("error", error)
                .required("error")
                .property("message", message)
                .required("message"),
            keys: Vec::new(),
            code,
            references,
        }
    }

    /// A field of the body, always present (`null` for an empty `Option`).
    pub fn field<T: SchemaField + ?Sized>(
        mut self,
        key: &'static str,
        docs: Option<&'static str>,
    ) -> Case<'r> {
        let schema = describe(T::schema(), docs);
        T::schemas(self.references);
        self.object = self.object.property(key, schema).required(key);
        self.keys.push(key);
        self
    }

    /// The finished schema: the fields, then the correlation ids of the
    /// current session that the fields do not already carry.
    pub fn build(self) -> CaseSchema {
        let mut object = self.object;
        if !self.keys.contains(&"session_id") {
            object = object.property(
                "session_id",
                string().description(Some(
                    "The id of the current TapPass session, when the request has one.",
                )),
            );
        }
        if !self.keys.contains(&"audit_url") {
            object = object.property(
                "audit_url",
                string().description(Some(
                    "The dashboard link of the current TapPass session, when known.",
                )),
            );
        }
        (self.code, object.into())
    }
}

/// A `transparent` case: a reference to the inner error's schema, which goes
/// to `references` with what it refers to.
pub fn transparent<T: SchemaCase + ?Sized>(references: &mut Schemas) -> CaseSchema {
    let name = T::name().into_owned();
    references.push((name.clone(), T::schema()));
    T::schemas(references);
    (None, Ref::from_schema_name(name).into())
}

/// The schema of a type's cases: the only one, or a `oneOf` when their codes
/// are fixed and distinct, else an `anyOf` (a `transparent` case or a code
/// read from a field may overlap another case). Identical cases count once.
pub fn cases(docs: Option<&'static str>, cases: Vec<CaseSchema>) -> RefOr<Schema> {
    let mut unique: Vec<CaseSchema> = Vec::with_capacity(cases.len());
    for case in cases {
        if !unique.contains(&case) {
            unique.push(case);
        }
    }
    if unique.len() == 1 {
        let (_, schema) = unique.remove(0);
        return schema;
    }
    let mut codes: Vec<&str> = Vec::with_capacity(unique.len());
    let exclusive = unique.iter().all(|(code, _)| match code {
        Some(code) if !codes.contains(code) => {
            codes.push(code);
            true
        }
        _ => false,
    });
    let items = unique.into_iter().map(|(_, schema)| schema);
    if exclusive {
        OneOfBuilder::new().items(items).description(docs).into()
    } else {
        AnyOfBuilder::new().items(items).description(docs).into()
    }
}

/// A schema name for `ToSchema::name`.
pub const fn name(name: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(name)
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::new(Type::String))
}

/// `schema` with `docs` as its description, where the schema has room for one.
pub(crate) fn describe(schema: RefOr<Schema>, docs: Option<&str>) -> RefOr<Schema> {
    let Some(docs) = docs else {
        return schema;
    };
    match schema {
        RefOr::T(mut schema) => {
            let description = match &mut schema {
                Schema::Object(s) => &mut s.description,
                Schema::Array(s) => &mut s.description,
                Schema::OneOf(s) => &mut s.description,
                Schema::AllOf(s) => &mut s.description,
                Schema::AnyOf(s) => &mut s.description,
                _ => return RefOr::T(schema),
            };
            *description = Some(docs.to_owned());
            RefOr::T(schema)
        }
        RefOr::Ref(mut reference) => {
            reference.description = docs.to_owned();
            RefOr::Ref(reference)
        }
    }
}

/// The OneOf/AnyOf builders take items one by one.
trait Items: Sized {
    fn items(self, items: impl Iterator<Item = RefOr<Schema>>) -> Self;
}

impl Items for OneOfBuilder {
    fn items(self, items: impl Iterator<Item = RefOr<Schema>>) -> Self {
        items.fold(self, OneOfBuilder::item)
    }
}

impl Items for AnyOfBuilder {
    fn items(self, items: impl Iterator<Item = RefOr<Schema>>) -> Self {
        items.fold(self, AnyOfBuilder::item)
    }
}
