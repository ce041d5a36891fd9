//! Audio hosts and devices: which hosts cpal offers here, listing, lookup by name.

use cpal::traits::{DeviceTrait, HostTrait};

use crate::daemon::LiveError;

/// The host (audio API) to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostChoice {
    /// cpal's default host (ALSA on Linux).
    #[default]
    Default,
    /// JACK (also PipeWire's JACK emulation).
    Jack,
    /// ALSA.
    Alsa,
    /// PulseAudio (also pipewire-pulse).
    Pulse,
}

impl HostChoice {
    /// The name used on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            HostChoice::Default => "default",
            HostChoice::Jack => "jack",
            HostChoice::Alsa => "alsa",
            HostChoice::Pulse => "pulse",
        }
    }

    fn host_id(self) -> Option<cpal::HostId> {
        let want = match self {
            HostChoice::Default => return None,
            HostChoice::Jack => "jack",
            HostChoice::Alsa => "alsa",
            HostChoice::Pulse => "pulseaudio",
        };
        cpal::available_hosts()
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(want))
    }
}

/// Hosts this build of cpal offers on this machine.
pub fn available_hosts() -> Vec<String> {
    cpal::available_hosts()
        .into_iter()
        .map(|h| h.name().to_string())
        .collect()
}

/// Opens `choice`. JACK needs a running server (it is never started automatically).
pub fn open_host(choice: HostChoice) -> Result<cpal::Host, LiveError> {
    match choice.host_id() {
        None if choice == HostChoice::Default => Ok(cpal::default_host()),
        None => Err(LiveError::HostUnavailable {
            host: choice.as_str().into(),
            available: available_hosts().join(", "),
        }),
        Some(id) => cpal::host_from_id(id).map_err(|e| LiveError::HostOpen {
            host: choice.as_str().into(),
            reason: e.to_string(),
        }),
    }
}

/// One device as `--list-devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceEntry {
    /// Display name (what `--input`/`--output` match, besides the id).
    pub name: String,
    /// The backend's id (e.g. a PulseAudio source name).
    pub id: String,
    /// Supports capture.
    pub input: bool,
    /// Supports playback.
    pub output: bool,
    /// Default capture device.
    pub default_input: bool,
    /// Default playback device.
    pub default_output: bool,
}

fn device_id(d: &cpal::Device) -> String {
    d.id().map(|i| i.id().to_string()).unwrap_or_default()
}

fn device_name(d: &cpal::Device) -> String {
    d.description()
        .map(|desc| desc.name().to_string())
        .unwrap_or_else(|_| d.to_string())
}

/// Every device of `host`, with its directions.
pub fn list_devices(host: &cpal::Host) -> Result<Vec<DeviceEntry>, LiveError> {
    let default_in = host.default_input_device().map(|d| device_id(&d));
    let default_out = host.default_output_device().map(|d| device_id(&d));
    let devices = host.devices().map_err(|e| LiveError::Backend {
        what: "list devices".into(),
        reason: e.to_string(),
    })?;
    Ok(devices
        .map(|d| {
            let id = device_id(&d);
            DeviceEntry {
                name: device_name(&d),
                input: d.supports_input(),
                output: d.supports_output(),
                default_input: default_in.as_deref() == Some(id.as_str()),
                default_output: default_out.as_deref() == Some(id.as_str()),
                id,
            }
        })
        .collect())
}

/// Capture or playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Capture.
    Input,
    /// Playback.
    Output,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// The device named `name` (display name or id, case-insensitive), or the default device.
/// An unknown name is an error that lists the devices available in that direction.
pub fn find_device(
    host: &cpal::Host,
    name: Option<&str>,
    dir: Direction,
) -> Result<cpal::Device, LiveError> {
    let supports = |d: &cpal::Device| match dir {
        Direction::Input => d.supports_input(),
        Direction::Output => d.supports_output(),
    };
    let Some(name) = name else {
        let d = match dir {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return d.ok_or_else(|| LiveError::NoDefaultDevice {
            direction: dir.as_str(),
            host: host.id().name().to_string(),
            hint: String::new(),
        });
    };
    let devices: Vec<cpal::Device> = host
        .devices()
        .map_err(|e| LiveError::Backend {
            what: "list devices".into(),
            reason: e.to_string(),
        })?
        .filter(supports)
        .collect();
    if let Some(d) = devices.iter().find(|d| {
        device_name(d).eq_ignore_ascii_case(name) || device_id(d).eq_ignore_ascii_case(name)
    }) {
        return Ok(d.clone());
    }
    let available: Vec<String> = devices
        .iter()
        .map(|d| {
            let (n, i) = (device_name(d), device_id(d));
            if n == i {
                format!("\"{n}\"")
            } else {
                format!("\"{n}\" (id {i})")
            }
        })
        .collect();
    Err(LiveError::DeviceNotFound {
        direction: dir.as_str(),
        name: name.to_string(),
        host: host.id().name().to_string(),
        available: if available.is_empty() {
            "none".into()
        } else {
            available.join(", ")
        },
    })
}
