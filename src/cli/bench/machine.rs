//! The machine a bench ran on, as its report states it: CPU, cores, system, and whether the
//! binary runs emulated (an aarch64 board build under qemu-user is not a speed figure).

use serde::Serialize;

/// What the report says about the machine.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model (`model name`), or the board (`/proc/device-tree/model`).
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Kernel and architecture of this binary.
    pub system: String,
    /// The binary's architecture differs from the CPU's: it runs under an emulator.
    pub emulated: bool,
    /// The GStreamer version, when this build has GStreamer.
    pub gstreamer: Option<String>,
}

impl Machine {
    /// This machine.
    pub fn here() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let board = std::fs::read_to_string("/proc/device-tree/model")
            .ok()
            .map(|m| m.trim_end_matches('\0').trim().to_string())
            .filter(|m| !m.is_empty());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_string())
            .unwrap_or_else(|_| "unknown kernel".into());
        Machine {
            cpu: cpu_name(&cpuinfo, board),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            system: format!(
                "{} {kernel}, {} binary",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
            emulated: emulated(std::env::consts::ARCH, &cpuinfo)
                || kernel_arch().is_some_and(|k| !same_arch(&k, std::env::consts::ARCH)),
            gstreamer: gstreamer_version(),
        }
    }

    /// One line: "AMD EPYC, 2 cores, linux 6.1.0, x86_64 binary, GStreamer 1.22.0".
    pub fn line(&self) -> String {
        let mut s = format!("{}, {} cores, {}", self.cpu, self.cores, self.system);
        if let Some(g) = &self.gstreamer {
            s.push_str(&format!(", {g}"));
        }
        if self.emulated {
            s.push_str(
                "; EMULATED (the CPU is not this binary's architecture: qemu-user?): \
                 these are not speed figures",
            );
        }
        s
    }
}

/// The CPU's name from `/proc/cpuinfo` (x86: `model name`; Arm: the board's model, else the
/// implementer and part numbers).
fn cpu_name(cpuinfo: &str, board: Option<String>) -> String {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    field("model name")
        .or(board)
        .or_else(|| {
            let part = field("CPU part")?;
            Some(format!(
                "Arm CPU implementer {} part {part}",
                field("CPU implementer").unwrap_or_default()
            ))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// An aarch64 binary on a CPU that describes itself as x86 (qemu-user passes the host's
/// `/proc/cpuinfo` through), or the other way round.
fn emulated(arch: &str, cpuinfo: &str) -> bool {
    let x86 = cpuinfo.lines().any(|l| l.starts_with("vendor_id"));
    let arm = cpuinfo.lines().any(|l| l.starts_with("CPU implementer"));
    match arch {
        "aarch64" | "arm" => x86,
        "x86_64" | "x86" => arm,
        _ => false,
    }
}

/// The kernel's own architecture (`/proc/sys/kernel/arch`, Linux 6.1 and later): qemu-user
/// fakes `uname` for the binary it runs, not this file.
fn kernel_arch() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/arch")
        .ok()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
}

/// Whether the kernel's `uname -m` and Rust's architecture name mean the same CPU.
fn same_arch(kernel: &str, rust: &str) -> bool {
    match rust {
        "aarch64" => kernel == "aarch64" || kernel == "arm64",
        "arm" => kernel.starts_with("arm"),
        "x86" => matches!(kernel, "i386" | "i486" | "i586" | "i686" | "x86_64"),
        other => kernel == other,
    }
}

#[cfg(feature = "gstreamer")]
fn gstreamer_version() -> Option<String> {
    gstreamer::init().ok()?;
    Some(gstreamer::version_string().to_string())
}

#[cfg(not(feature = "gstreamer"))]
fn gstreamer_version() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_cpu_and_sees_emulation() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n";
        let arm = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n";
        assert_eq!(cpu_name(x86, None), "AMD EPYC");
        assert_eq!(
            cpu_name(arm, Some("Raspberry Pi 5 Model B Rev 1.0".into())),
            "Raspberry Pi 5 Model B Rev 1.0"
        );
        assert_eq!(cpu_name(arm, None), "Arm CPU implementer 0x41 part 0xd0b");
        assert_eq!(cpu_name("", None), "unknown CPU");
        assert!(emulated("aarch64", x86));
        assert!(!emulated("aarch64", arm));
        assert!(!emulated("x86_64", x86));
        assert!(emulated("x86_64", arm));
        assert!(same_arch("x86_64", "x86_64") && same_arch("arm64", "aarch64"));
        assert!(!same_arch("x86_64", "aarch64"));
    }
}
