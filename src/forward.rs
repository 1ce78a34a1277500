//! The pointer forms of the store traits, written once: a store behind
//! `&T`, `Arc<T>` or `Box<T>` is a store too. This module sits below every
//! trait it serves and imports nothing.

/// Implements a store trait for `&T`, `Arc<T>` and `Box<T>` of every `T`
/// (sized or not) that implements it. The body is the trait's items written
/// once, each method forwarding to `(**self)`.
macro_rules! forward_store {
    ($tr:ident { $($body:tt)* }) => {
        impl<T: $tr + ?Sized> $tr for &T { $($body)* }
        impl<T: $tr + ?Sized> $tr for ::std::sync::Arc<T> { $($body)* }
        impl<T: $tr + ?Sized> $tr for ::std::boxed::Box<T> { $($body)* }
    };
}
pub(crate) use forward_store;
