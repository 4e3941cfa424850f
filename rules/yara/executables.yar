// Native executables and packed binaries hidden among a skill's files.
//
// The header rules test the magic number at offset 0 only, so they name the format of the file
// and nothing more. Their rule names (executable_elf_header, executable_pe_header,
// executable_macho_header) are stable so the engine can map them to its binary-file findings.

rule executable_elf_header {
  meta:
    category = "malware"
    severity = "MEDIUM"
    title = "ELF executable"
    description = "The file starts with the ELF magic number, so it is a Linux or BSD native program or shared library. Compiled code in a skill cannot be reviewed from source and runs with the agent's privileges."
    remediation = "Ship source code and build steps instead of binaries, or document where the binary comes from and pin its checksum."
    test_fire = "\x7FELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3E\x00"
    test_quiet = "ELF is a file format; this text only names it."
    test_quiet_2 = "#!/bin/sh\necho ELF\n"
  condition:
    uint32(0) == 0x464C457F
}

rule executable_pe_header {
  meta:
    category = "malware"
    severity = "MEDIUM"
    title = "Windows PE executable"
    description = "The file starts with an MZ header whose e_lfanew field points at a PE signature, so it is a Windows program or DLL. Compiled code in a skill cannot be reviewed from source."
    remediation = "Ship source code and build steps instead of binaries, or document where the binary comes from and pin its checksum."
    test_fire = "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00\xB8\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00PE\x00\x00d\x86\x02\x00"
    test_quiet = "MZ stands for Mark Zbikowski, who designed the DOS executable header."
  condition:
    uint16(0) == 0x5A4D and
    filesize > 0x40 and
    uint32(0x3C) < filesize and
    uint32(0x3C) <= 0x1000 and
    uint32(uint32(0x3C)) == 0x00004550
}

rule executable_macho_header {
  meta:
    category = "malware"
    severity = "MEDIUM"
    title = "Mach-O executable"
    description = "The file starts with a Mach-O or universal (fat) binary magic number, so it is a macOS native program or library. Compiled code in a skill cannot be reviewed from source."
    remediation = "Ship source code and build steps instead of binaries, or document where the binary comes from and pin its checksum."
    test_fire = "\xCF\xFA\xED\xFE\x0C\x00\x00\x01\x00\x00\x00\x00\x02\x00\x00\x00"
    test_fire_2 = "\xCA\xFE\xBA\xBE\x00\x00\x00\x02\x01\x00\x00\x07\x00\x00\x00\x03"
    test_quiet = "\xCA\xFE\xBA\xBE\x00\x00\x00\x34\x00\x1D\x0A\x00\x06\x00\x0F\x09"
    test_quiet_2 = "Mach-O is the macOS binary format."
  condition:
    uint32(0) == 0xFEEDFACE or
    uint32(0) == 0xFEEDFACF or
    uint32(0) == 0xCEFAEDFE or
    uint32(0) == 0xCFFAEDFE or
    (uint32be(0) == 0xCAFEBABE and uint32be(4) > 0 and uint32be(4) < 0x14)
}

rule packed_executable_upx {
  meta:
    category = "obfuscation"
    severity = "HIGH"
    title = "UPX-packed executable"
    description = "A native executable carries UPX packer markers. Packing compresses the code so that its strings and logic cannot be read without unpacking, a common way to slip malware past review."
    remediation = "Ship the unpacked binary, or better, the source and build steps."
    test_fire = "\x7FELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00UPX!\x0D\x0C\x08\x08UPX0\x00UPX1"
    test_quiet = "\x7FELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00.text\x00.data"
    test_quiet_2 = "Use UPX! to shrink binaries, it writes UPX0 and UPX1 sections."
  strings:
    $marker = "UPX!"
    $section0 = "UPX0"
    $section1 = "UPX1"
  condition:
    (uint32(0) == 0x464C457F or uint16(0) == 0x5A4D or uint32(0) == 0xFEEDFACF or uint32(0) == 0xFEEDFACE) and
    $marker and ($section0 or $section1)
}

rule image_with_embedded_code {
  meta:
    category = "malware"
    severity = "HIGH"
    title = "Image file carrying server or script code"
    description = "A PNG, JPEG or GIF file also contains PHP, JSP or script execution code. Such polyglot images pass as pictures while the server or a loader executes the hidden code, a classic webshell and payload-smuggling trick."
    remediation = "Re-encode the image from a trusted source and remove the embedded code."
    test_fire = "GIF89a\x01\x00\x01\x00\x00\x00\x00;<?php system($_GET['c']); ?>"
    test_fire_2 = "\x89PNG\x0D\x0A\x1A\x0A\x00\x00\x00\x0DIHDR\x00\x00tEXtcomment\x00<?php eval($_POST[1]);?>"
    test_quiet = "\x89PNG\x0D\x0A\x1A\x0A\x00\x00\x00\x0DIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06"
    test_quiet_2 = "<?php echo 'GIF89a is an image header'; ?>"
  strings:
    $php = "<?php" nocase
    $php_short = /<\?=?\s*(eval|system|exec|passthru|assert|shell_exec)\s*\(/ nocase
    $jsp = "<%@ page" nocase
    $jsp_exec = "Runtime.getRuntime().exec"
    $script_eval = /<script[^>]{0,80}>[^<]{0,200}\beval\s*\(/ nocase
    $py_exec = /\bexec\s*\(\s*(base64|zlib|marshal|__import__)/
  condition:
    (uint32be(0) == 0x89504E47 or uint16be(0) == 0xFFD8 or uint32be(0) == 0x47494638) and
    any of them
}
