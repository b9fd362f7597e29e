//! The ELF reader: the header, the PT_INTERP and PT_DYNAMIC program headers, and the dynamic
//! tags that say what the loader needs (see the module above for why it is hand-written).

/// What the dynamic loader would need to start a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// PT_INTERP: the dynamic loader; None for static binaries.
    pub interpreter: Option<String>,
    /// DT_NEEDED sonames, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH entries, split at ':'.
    pub runpath: Vec<String>,
    /// DT_RPATH entries, split at ':': the loader uses them only when there is no DT_RUNPATH.
    pub rpath: Vec<String>,
    /// e_machine (62 = x86-64, 183 = AArch64, ...).
    pub machine: u16,
    /// e_type (1 = relocatable, 2 = executable, 3 = shared/PIE, 4 = core).
    pub elf_type: u16,
    pub is_64: bool,
    pub big_endian: bool,
}

pub(super) const PT_LOAD: u64 = 1;
pub(super) const PT_DYNAMIC: u64 = 2;
pub(super) const PT_INTERP: u64 = 3;
pub(super) const DT_NULL: u64 = 0;
pub(super) const DT_NEEDED: u64 = 1;
pub(super) const DT_STRTAB: u64 = 5;
pub(super) const DT_STRSZ: u64 = 10;
pub(super) const DT_RPATH: u64 = 15;
pub(super) const DT_RUNPATH: u64 = 29;
pub(super) const ET_REL: u16 = 1;
pub(super) const ET_CORE: u16 = 4;

/// Bounds-checked view of an ELF image; every read returns None when out of
/// range, so corrupt input degrades to "unknown" instead of panicking.
struct Elf<'a> {
    data: &'a [u8],
    is_64: bool,
    big_endian: bool,
}

#[derive(Clone, Copy)]
struct Segment {
    kind: u64,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl<'a> Elf<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        if data.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is_64 = match data.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match data.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        Some(Elf {
            data,
            is_64,
            big_endian,
        })
    }

    fn bytes(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.data.get(start..end)
    }

    fn uint(&self, offset: u64, size: u64) -> Option<u64> {
        let b = self.bytes(offset, size)?;
        let fold = |acc: u64, byte: &u8| (acc << 8) | u64::from(*byte);
        Some(if self.big_endian {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    }

    /// An address- or offset-sized field (Elf32_Addr / Elf64_Addr).
    fn word(&self, offset: u64) -> Option<u64> {
        self.uint(offset, if self.is_64 { 8 } else { 4 })
    }

    fn half(&self, offset: u64) -> Option<u16> {
        self.uint(offset, 2).map(|v| v as u16)
    }

    /// Program headers that lie inside the data; a truncated table yields the
    /// readable prefix because PT_INTERP usually comes first.
    fn segments(&self) -> Option<Vec<Segment>> {
        let (phoff, entsize, num, min_size) = if self.is_64 {
            (self.word(32)?, self.half(54)?, self.half(56)?, 56)
        } else {
            (self.word(28)?, self.half(42)?, self.half(44)?, 32)
        };
        if entsize < min_size {
            return None;
        }
        let read = |i: u16| {
            let base = phoff.checked_add(u64::from(i) * u64::from(entsize))?;
            self.segment(base)
        };
        Some((0..num).map_while(read).collect())
    }

    fn segment(&self, base: u64) -> Option<Segment> {
        let at = |off: u64| base.checked_add(off);
        let (offset, vaddr, filesz) = if self.is_64 {
            (at(8)?, at(16)?, at(32)?)
        } else {
            (at(4)?, at(8)?, at(16)?)
        };
        Some(Segment {
            kind: self.uint(base, 4)?,
            offset: self.word(offset)?,
            vaddr: self.word(vaddr)?,
            filesz: self.word(filesz)?,
        })
    }

    /// NUL-terminated string at `offset`, not reading past `limit`.
    fn c_string(&self, offset: u64, limit: u64) -> Option<String> {
        let len = limit.checked_sub(offset)?;
        let avail = self.data.len() as u64;
        let len = len.min(avail.saturating_sub(offset));
        let raw = self.bytes(offset, len)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Some(String::from_utf8_lossy(&raw[..end]).into_owned())
    }
}

/// File offset of virtual address `addr`: DT_STRTAB holds an address, and
/// only the PT_LOAD segments say where that lives in the file.
fn vaddr_to_offset(segments: &[Segment], addr: u64) -> Option<u64> {
    segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| addr >= s.vaddr && addr - s.vaddr < s.filesz)
        .and_then(|s| s.offset.checked_add(addr - s.vaddr))
}

/// Parses an ELF image (32/64-bit, either byte order). Returns None when the
/// bytes are not ELF or the header is unreadable; damaged parts further in
/// are skipped.
pub fn read_elf(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = Elf::new(bytes)?;
    let segments = elf.segments()?;
    let mut info = ElfInfo {
        interpreter: None,
        needed: Vec::new(),
        runpath: Vec::new(),
        rpath: Vec::new(),
        machine: elf.half(18)?,
        elf_type: elf.half(16)?,
        is_64: elf.is_64,
        big_endian: elf.big_endian,
    };
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let end = interp.offset.saturating_add(interp.filesz);
        info.interpreter = elf.c_string(interp.offset, end).filter(|s| !s.is_empty());
    }
    if let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) {
        read_dynamic(&elf, &segments, dynamic, &mut info);
    }
    Some(info)
}

fn read_dynamic(elf: &Elf, segments: &[Segment], dynamic: &Segment, info: &mut ElfInfo) {
    let entsize: u64 = if elf.is_64 { 16 } else { 8 };
    let (mut strtab, mut strsz) = (None, u64::MAX);
    let mut names = Vec::new(); // (tag, string offset), resolved once STRTAB is known
    let entry = |i: u64| {
        let at = dynamic.offset.checked_add(i * entsize)?;
        Some((elf.word(at)?, elf.word(at.checked_add(entsize / 2)?)?))
    };
    for i in 0..dynamic.filesz / entsize {
        let Some((tag, val)) = entry(i) else { break };
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = vaddr_to_offset(segments, val),
            DT_STRSZ => strsz = val,
            DT_NEEDED | DT_RPATH | DT_RUNPATH => names.push((tag, val)),
            _ => {}
        }
    }
    let Some(strtab) = strtab else { return };
    let limit = strtab.saturating_add(strsz);
    for (tag, offset) in names {
        let Some(s) = strtab.checked_add(offset).and_then(|o| elf.c_string(o, limit)) else {
            continue;
        };
        let list = match tag {
            DT_NEEDED => {
                info.needed.push(s);
                continue;
            }
            DT_RPATH => &mut info.rpath,
            _ => &mut info.runpath,
        };
        list.extend(s.split(':').filter(|d| !d.is_empty()).map(String::from));
    }
}

/// Debian multiarch triplets, which name the library directories the
/// binary's loader searches (e.g. /usr/lib/x86_64-linux-gnu).
pub(super) fn multiarch(info: &ElfInfo) -> &'static [&'static str] {
    match (info.machine, info.is_64, info.big_endian) {
        (62, true, _) => &["x86_64-linux-gnu"],
        (62, false, _) => &["x86_64-linux-gnux32"],
        (3, _, _) => &["i386-linux-gnu"],
        (183, _, _) => &["aarch64-linux-gnu"],
        (40, _, _) => &["arm-linux-gnueabihf", "arm-linux-gnueabi"],
        (243, true, _) => &["riscv64-linux-gnu"],
        (21, _, false) => &["powerpc64le-linux-gnu"],
        (21, _, true) => &["powerpc64-linux-gnu"],
        (20, _, _) => &["powerpc-linux-gnu"],
        (22, _, _) => &["s390x-linux-gnu"],
        (8, true, false) => &["mips64el-linux-gnuabi64"],
        (8, true, true) => &["mips64-linux-gnuabi64"],
        (8, false, false) => &["mipsel-linux-gnu"],
        (8, false, true) => &["mips-linux-gnu"],
        (258, _, _) => &["loongarch64-linux-gnu"],
        _ => &[],
    }
}

pub(super) fn machine_name(machine: u16) -> &'static str {
    match machine {
        3 => "x86 (i386)",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390x",
        40 => "ARM (32-bit)",
        62 => "x86-64 (amd64)",
        183 => "AArch64 (arm64)",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => "unknown",
    }
}

/// e_machine of the binaries this build of scrun runs next to.
pub(super) fn host_machine() -> u16 {
    match std::env::consts::ARCH {
        "x86" => 3,
        "mips" | "mips64" => 8,
        "powerpc" => 20,
        "powerpc64" => 21,
        "s390x" => 22,
        "arm" => 40,
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" | "riscv32" => 243,
        "loongarch64" => 258,
        _ => 0,
    }
}
