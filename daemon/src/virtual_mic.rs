//! The virtual microphone: a null sink the daemon plays into and a remap source on its monitor
//! that VoIP apps pick as their microphone ("widen microphone"). Made with `pactl`, so it works
//! on PulseAudio and on PipeWire (pipewire-pulse); removed on drop.

use std::process::Command;

use crate::daemon::LiveError;

/// Sink the daemon plays into.
pub const SINK_NAME: &str = "widen_out";
/// The source apps record from.
pub const SOURCE_NAME: &str = "widen_microphone";
/// What apps show for the source.
pub const SOURCE_DESCRIPTION: &str = "widen microphone";

/// The two loaded modules; dropping this unloads them.
#[derive(Debug)]
pub struct VirtualMic {
    modules: Vec<u32>,
}

fn pactl(args: &[&str]) -> Result<String, LiveError> {
    let out = Command::new("pactl")
        .args(args)
        .output()
        .map_err(|e| LiveError::VirtualMic {
            step: format!("pactl {}", args.join(" ")),
            reason: format!(
                "expected to run `pactl` (Debian package pulseaudio-utils), found: {e}"
            ),
        })?;
    if !out.status.success() {
        return Err(LiveError::VirtualMic {
            step: format!("pactl {}", args.join(" ")),
            reason: format!(
                "expected exit status 0, found {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Unloads modules left by a daemon that was killed without cleaning up (SIGKILL).
fn unload_stale() {
    let Ok(list) = pactl(&["list", "short", "modules"]) else {
        return;
    };
    for line in list.lines() {
        let mut f = line.split('\t');
        let (Some(id), Some(_name), Some(args)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if args.contains(&format!("sink_name={SINK_NAME}"))
            || args.contains(&format!("source_name={SOURCE_NAME}"))
        {
            let _ = pactl(&["unload-module", id]);
        }
    }
}

impl VirtualMic {
    /// Loads the null sink and the remap source. Needs a PulseAudio-compatible server.
    pub fn create() -> Result<Self, LiveError> {
        unload_stale();
        let mut mic = VirtualMic {
            modules: Vec::new(),
        };
        let load = |args: &[&str]| -> Result<u32, LiveError> {
            let out = pactl(args)?;
            out.trim().parse().map_err(|_| LiveError::VirtualMic {
                step: format!("pactl {}", args.join(" ")),
                reason: format!("expected a module index, found {:?}", out.trim()),
            })
        };
        mic.modules.push(load(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={SINK_NAME}"),
            "channels=1",
            "rate=48000",
            "sink_properties='device.description=\"widen output\"'",
        ])?);
        // On error `mic` drops and unloads the sink.
        mic.modules.push(load(&[
            "load-module",
            "module-remap-source",
            &format!("master={SINK_NAME}.monitor"),
            &format!("source_name={SOURCE_NAME}"),
            "channels=1",
            // Single quotes around the whole proplist keep the space in the description.
            &format!("source_properties='device.description=\"{SOURCE_DESCRIPTION}\"'"),
        ])?);
        Ok(mic)
    }

    /// Whether the sink still exists (an audio server restart drops the modules).
    pub fn is_present(&self) -> bool {
        pactl(&["list", "short", "sinks"]).is_ok_and(|l| {
            l.lines()
                .any(|line| line.split('\t').nth(1) == Some(SINK_NAME))
        })
    }

    /// The sink the daemon's output goes to.
    pub fn sink(&self) -> &'static str {
        SINK_NAME
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        for id in self.modules.iter().rev() {
            // Nothing to do about a server that is already gone.
            let _ = pactl(&["unload-module", &id.to_string()]);
        }
    }
}
