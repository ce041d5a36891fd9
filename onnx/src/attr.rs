//! Typed constructors for node attributes (`AttributeProto`), e.g. `attr::ints("pads", &[1, 1])`.

use crate::proto::{attribute_proto::AttributeType, AttributeProto};

fn base(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

/// A single `int64` attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        i: Some(value),
        ..base(name, AttributeType::Int)
    }
}

/// A list of `int64` attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: values.to_vec(),
        ..base(name, AttributeType::Ints)
    }
}

/// A single `float` attribute.
pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        f: Some(value),
        ..base(name, AttributeType::Float)
    }
}

/// A list of `float` attribute.
pub fn floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        floats: values.to_vec(),
        ..base(name, AttributeType::Floats)
    }
}

/// A string attribute (stored as UTF-8 bytes).
pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        s: Some(value.as_bytes().to_vec()),
        ..base(name, AttributeType::String)
    }
}
