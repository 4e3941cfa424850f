// EICAR antivirus test file.
//
// The pattern writes both dollar signs of the 68-byte test string as \x24 escapes, and the test
// sample escapes every byte, so that this rule file (and any binary that embeds it) does not
// itself contain the test string and trip antivirus products.

rule eicar_test_file {
  meta:
    category = "malware"
    severity = "CRITICAL"
    title = "EICAR antivirus test file"
    description = "The file contains the 68-byte EICAR standard antivirus test string. Every antivirus product reports it as malware, so a skill that ships it is blocked or quarantined wherever it is installed."
    remediation = "Remove the file. Keep antivirus test samples in a test harness, never in a published skill."
    test_fire = "\x58\x35\x4F\x21\x50\x25\x40\x41\x50\x5B\x34\x5C\x50\x5A\x58\x35\x34\x28\x50\x5E\x29\x37\x43\x43\x29\x37\x7D\x24\x45\x49\x43\x41\x52\x2D\x53\x54\x41\x4E\x44\x41\x52\x44\x2D\x41\x4E\x54\x49\x56\x49\x52\x55\x53\x2D\x54\x45\x53\x54\x2D\x46\x49\x4C\x45\x21\x24\x48\x2B\x48\x2A"
    test_fire_2 = "\x58\x35\x4F\x21\x50\x25\x40\x41\x50\x5B\x34\x5C\x50\x5A\x58\x35\x34\x28\x50\x5E\x29\x37\x43\x43\x29\x37\x7D\x24\x45\x49\x43\x41\x52\x2D\x53\x54\x41\x4E\x44\x41\x52\x44\x2D\x41\x4E\x54\x49\x56\x49\x52\x55\x53\x2D\x54\x45\x53\x54\x2D\x46\x49\x4C\x45\x21\x24\x48\x2B\x48\x2A\r\n"
    test_quiet = "EICAR is the name of the European Institute for Computer Antivirus Research."
    test_quiet_2 = "X5O!P%@AP"
  strings:
    $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}\x24EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\x24H+H*"
  condition:
    $eicar
}
