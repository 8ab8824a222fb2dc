//! Deterministic, realistic hunting events for `threatgate seed` and the demo: a fleet of
//! devices and users doing ordinary work (processes, connections, files, logons, registry,
//! image loads, Defender events, mail and clicks on its links, cloud apps, directory queries
//! and changes) in time order over the days, as events arrive, plus, for each seeded alert, the events behind it on the alert's own device, user,
//! file, command line, address or message, so that hunting finds what the incidents show.
//! The same seed, and the same alerts observed in the same order, give the same events.
//!
//! Distributions the benchmark relies on (documented in `bench/README.md`): about 6% of process
//! events are `powershell.exe`, exactly one process event in a thousand runs
//! `rundll32.exe … comsvcs.dll, MiniDump …` (the term `MiniDump`), about 60% of connections
//! go to port 443.

use threatgate_domain::datetime::parse_datetime_ticks;
use threatgate_hunting::events::{EventRow, RowBuilder};
use threatgate_hunting::schema::{self, Table};
use threatgate_proto::{Alert, Entity};

use crate::dice::Dice;

const TICKS_PER_SECOND: i64 = 10_000_000;

/// The tables the generator writes, with the weight of each in the ordinary events (a table's
/// share is its weight over the sum).
const MIX: &[(&str, u64)] = &[
    ("DeviceProcessEvents", 420),
    ("DeviceNetworkEvents", 330),
    ("DeviceFileEvents", 90),
    ("DeviceLogonEvents", 50),
    ("DeviceRegistryEvents", 40),
    ("EmailEvents", 25),
    ("EmailAttachmentInfo", 10),
    ("EmailUrlInfo", 10),
    ("IdentityLogonEvents", 25),
    ("DeviceImageLoadEvents", 60),
    ("DeviceEvents", 40),
    ("CloudAppEvents", 20),
    ("IdentityQueryEvents", 10),
    ("IdentityDirectoryEvents", 5),
    ("UrlClickEvents", 8),
    ("EmailPostDeliveryEvents", 3),
];

/// An executable of the fleet: name, folder, command line; weight per ten thousand.
struct Program {
    file: &'static str,
    folder: &'static str,
    command: &'static str,
    weight: u64,
}

const PROGRAMS: &[Program] = &[
    Program {
        file: "svchost.exe",
        folder: "C:\\Windows\\System32",
        command: "svchost.exe -k netsvcs -p -s Schedule",
        weight: 1800,
    },
    Program {
        file: "chrome.exe",
        folder: "C:\\Program Files\\Google\\Chrome\\Application",
        command: "\"chrome.exe\" --type=renderer --lang=en-US --field-trial-handle=1820",
        weight: 1500,
    },
    Program {
        file: "msedge.exe",
        folder: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application",
        command: "\"msedge.exe\" --type=utility --utility-sub-type=network.mojom.NetworkService",
        weight: 1200,
    },
    Program {
        file: "conhost.exe",
        folder: "C:\\Windows\\System32",
        command: "conhost.exe 0xffffffff -ForceV1",
        weight: 900,
    },
    Program {
        file: "powershell.exe",
        folder: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
        command: "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\Scripts\\inventory.ps1",
        weight: 400,
    },
    Program {
        file: "powershell.exe",
        folder: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
        command: "powershell.exe -Command Get-Service | Where-Object Status -eq Running",
        weight: 200,
    },
    Program {
        file: "cmd.exe",
        folder: "C:\\Windows\\System32",
        command: "cmd.exe /c \"C:\\Program Files\\Backup\\run-backup.bat\"",
        weight: 500,
    },
    Program {
        file: "OUTLOOK.EXE",
        folder: "C:\\Program Files\\Microsoft Office\\root\\Office16",
        command: "\"OUTLOOK.EXE\" /recycle",
        weight: 700,
    },
    Program {
        file: "ms-teams.exe",
        folder: "C:\\Program Files\\WindowsApps\\MSTeams",
        command: "\"ms-teams.exe\" --system-initiated",
        weight: 700,
    },
    Program {
        file: "MsMpEng.exe",
        folder: "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform",
        command: "\"MsMpEng.exe\"",
        weight: 600,
    },
    Program {
        file: "git.exe",
        folder: "C:\\Program Files\\Git\\cmd",
        command: "git.exe fetch --prune origin",
        weight: 400,
    },
    Program {
        file: "python.exe",
        folder: "C:\\Python312",
        command: "python.exe -m pip install --upgrade requests",
        weight: 300,
    },
    Program {
        file: "wmiprvse.exe",
        folder: "C:\\Windows\\System32\\wbem",
        command: "wmiprvse.exe -secured -Embedding",
        weight: 400,
    },
    Program {
        file: "taskhostw.exe",
        folder: "C:\\Windows\\System32",
        command: "taskhostw.exe Install $(Arg0)",
        weight: 300,
    },
    Program {
        file: "reg.exe",
        folder: "C:\\Windows\\System32",
        command: "reg.exe query HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
        weight: 100,
    },
];

/// The rare credential-dumping command: exactly one process event in `MINIDUMP_EVERY`.
const MINIDUMP: Program = Program {
    file: "rundll32.exe",
    folder: "C:\\Windows\\System32",
    command: "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Temp\\lsass.dmp full",
    weight: 0,
};
const MINIDUMP_EVERY: u64 = 1000;

/// `DeviceEvents` of an ordinary day: an action type and its `AdditionalFields`.
const DEVICE_EVENT_ACTIONS: &[(&str, &str)] = &[
    ("AntivirusScanCompleted", r#"{"ScanTypeIndex":1,"DurationSeconds":412}"#),
    ("PowerShellCommand", r#"{"Command":"Get-Process"}"#),
    ("PowerShellCommand", r#"{"Command":"Get-Service"}"#),
    ("AsrOfficeChildProcessAudited", r#"{"IsAudit":true}"#),
    ("ScreenshotTaken", "{}"),
    ("UsbDriveMounted", r#"{"DriveLetter":"E:","ProductName":"Cruzer"}"#),
];

const URLS: &[&str] = &[
    "login.microsoftonline.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "www.google.com",
    "github.com",
    "pypi.org",
    "update.googleapis.com",
    "settings-win.data.microsoft.com",
    "cdn.jsdelivr.net",
    "api.slack.com",
];
const PORTS: &[(i64, u64)] =
    &[(443, 600), (80, 150), (53, 100), (445, 50), (135, 30), (3389, 20), (8080, 30), (22, 20)];
const FIRST_NAMES: &[&str] = &["alex", "maria", "wei", "fatima", "john", "sofia", "kenji", "amara", "lucas", "nina"];
const LAST_NAMES: &[&str] =
    &["smith", "garcia", "chen", "khan", "mueller", "rossi", "tanaka", "okafor", "silva", "novak"];
const SENDERS: &[&str] = &["noreply@github.com", "billing@contoso-supplier.com", "news@fabrikam.com", "it-helpdesk@"];
const SUBJECTS: &[&str] =
    &["Weekly report", "Meeting notes", "Invoice 2026-11", "Your build succeeded", "Password expiry notice"];

#[derive(Debug, Clone)]
struct Host {
    id: String,
    name: String,
    ip: String,
    platform: String,
}

#[derive(Debug, Clone)]
struct Person {
    name: String,
    domain: String,
    sid: String,
    upn: String,
    object_id: String,
}

/// Generates events; see the module's comment.
#[derive(Debug)]
pub struct EventGenerator {
    dice: Dice,
    domain: String,
    now: i64,
    span: i64,
    hosts: Vec<Host>,
    people: Vec<Person>,
    /// The tables of `MIX` to write, with their cumulative weights.
    mix: Vec<(&'static Table, u64)>,
    report_id: i64,
    process_events: u64,
    /// Ordinary events made so far, and how many are planned: they sweep the span in time
    /// order, as events arrive.
    issued: u64,
    expected: u64,
}

impl EventGenerator {
    /// Events over the `days` before `now` (ticks) for a tenant under `domain`, from a fleet
    /// sized for about `expected` events (one device per 5,000 events, 10 to 5,000 devices).
    pub fn new(seed: u64, domain: &str, now: i64, days: u32, expected: u64) -> Self {
        let mut generator = Self {
            dice: Dice::new(seed ^ 0x6576_656e_7473),
            domain: domain.to_owned(),
            now,
            span: i64::from(days.max(1)) * 86_400 * TICKS_PER_SECOND,
            hosts: Vec::new(),
            people: Vec::new(),
            mix: Vec::new(),
            report_id: 0,
            process_events: 0,
            issued: 0,
            expected: expected.max(1),
        };
        generator.only(&[]);
        let fleet = (expected / 5000).clamp(10, 5000);
        for index in 0..fleet {
            let host = generator.new_host(index);
            generator.hosts.push(host);
            let person = generator.new_person(index);
            generator.people.push(person);
        }
        generator
    }

    /// Writes only these tables (all of them when empty); names not of the mix are ignored.
    pub fn only(&mut self, tables: &[&str]) {
        let mut total = 0;
        self.mix = MIX
            .iter()
            .filter(|(name, _)| tables.is_empty() || tables.contains(name))
            .filter_map(|(name, weight)| {
                total += weight;
                schema::table(name).map(|table| (table, total))
            })
            .collect();
    }

    /// The tables the generator can write (for `--event-tables`).
    pub fn table_names() -> impl Iterator<Item = &'static str> {
        MIX.iter().map(|(name, _)| *name).chain(["DeviceInfo"])
    }

    fn new_host(&mut self, index: u64) -> Host {
        let prefix = *self.dice.pick(&["desktop-", "laptop-", "wks-", "srv-app-", "srv-sql-"]);
        Host {
            id: self.dice.hex(20),
            name: format!("{prefix}{:04}.{}", index + 1, self.domain),
            ip: format!("10.{}.{}.{}", self.dice.below(8), self.dice.below(256), 1 + self.dice.below(254)),
            platform: (*self.dice.pick(&["Windows10", "Windows11", "WindowsServer2019", "WindowsServer2022"])).into(),
        }
    }

    fn new_person(&mut self, index: u64) -> Person {
        let name = format!("{}.{}{}", self.dice.pick(FIRST_NAMES), self.dice.pick(LAST_NAMES), index + 1);
        let upn = format!("{name}@{}", self.domain);
        Person {
            domain: self.domain.split('.').next().unwrap_or("corp").to_owned(),
            sid: format!("S-1-5-21-3623811015-3361044348-30300820-{}", 1100 + index),
            object_id: self.dice.hex(16),
            upn,
            name,
        }
    }

    /// The next ordinary event's time: the span swept from its start to `now` over the
    /// expected events, each up to a minute earlier than its place (never after `now`).
    fn next_time(&mut self) -> i64 {
        self.issued += 1;
        let place = i128::from(self.span) * i128::from(self.issued.min(self.expected)) / i128::from(self.expected);
        let jitter = i64::try_from(self.dice.below(60 * TICKS_PER_SECOND as u64)).unwrap_or(0);
        (self.now - self.span + i64::try_from(place).unwrap_or(self.span) - jitter).min(self.now)
    }

    fn next_report(&mut self) -> i64 {
        self.report_id += 1;
        self.report_id
    }

    fn public_ip(&mut self) -> String {
        let first = *self.dice.pick(&[13, 20, 40, 52, 104, 140, 151, 185]);
        format!("{first}.{}.{}.{}", self.dice.below(256), self.dice.below(256), 1 + self.dice.below(254))
    }

    /// An ordinary event of one of the chosen tables.
    pub fn next_event(&mut self) -> (&'static Table, EventRow) {
        let total = self.mix.last().map_or(0, |(_, weight)| *weight);
        let roll = self.dice.below(total);
        let table = self.mix.iter().find(|(_, weight)| roll < *weight).map_or(&schema::TABLES[0], |(table, _)| *table);
        let host = self.pick_host();
        let person = self.pick_person();
        let at = self.next_time();
        let row = match table.name {
            "DeviceProcessEvents" => {
                self.process_events += 1;
                let program =
                    if self.process_events.is_multiple_of(MINIDUMP_EVERY) { &MINIDUMP } else { self.program() };
                self.process_row(table, &host, &person, at, program.file, program.folder, program.command)
            }
            "DeviceNetworkEvents" => self.network_row(table, &host, &person, at, None, None),
            "DeviceFileEvents" => {
                let file = format!(
                    "{}-{}.{}",
                    self.dice.pick(&["report", "notes", "export", "setup"]),
                    self.dice.below(500),
                    self.dice.pick(&["docx", "xlsx", "pdf", "zip", "msi"])
                );
                self.file_row(table, &host, &person, at, &file, "C:\\Users\\Public\\Documents", None, None)
            }
            "DeviceLogonEvents" => self.logon_row(table, &host, &person, at),
            "DeviceImageLoadEvents" => self.image_load_row(table, &host, &person, at),
            "DeviceEvents" => {
                let (action, fields) = *self.dice.pick(DEVICE_EVENT_ACTIONS);
                self.device_event_row(table, &host, &person, at, action, fields, None)
            }
            "CloudAppEvents" => self.cloud_app_row(table, &person, at),
            "IdentityQueryEvents" => self.identity_query_row(table, &host, &person, at),
            "IdentityDirectoryEvents" => self.identity_directory_row(table, &host, &person, at),
            "UrlClickEvents" => {
                let url = format!("https://{}/", self.dice.pick(URLS));
                let message = self.dice.hex(16);
                self.url_click_row(table, &person, at, &url, &message, false)
            }
            "EmailPostDeliveryEvents" => {
                let message = self.dice.hex(16);
                self.post_delivery_row(table, &person, at, &message, "Manual remediation")
            }
            "DeviceRegistryEvents" => self.registry_row(table, &host, &person, at),
            "EmailEvents" | "EmailAttachmentInfo" | "EmailUrlInfo" => {
                let sender = match *self.dice.pick(SENDERS) {
                    "it-helpdesk@" => format!("it-helpdesk@{}", self.domain),
                    other => other.to_owned(),
                };
                let subject = *self.dice.pick(SUBJECTS);
                let message = self.dice.hex(16);
                self.mail_row(table, &person, at, &sender, subject, &message)
            }
            _ => self.identity_row(table, &host, &person, at, None),
        };
        (table, row)
    }

    fn pick_host(&mut self) -> Host {
        let index = usize::try_from(self.dice.below(self.hosts.len() as u64)).unwrap_or(0);
        self.hosts[index.min(self.hosts.len() - 1)].clone()
    }

    fn pick_person(&mut self) -> Person {
        let index = usize::try_from(self.dice.below(self.people.len() as u64)).unwrap_or(0);
        self.people[index.min(self.people.len() - 1)].clone()
    }

    fn program(&mut self) -> &'static Program {
        let total: u64 = PROGRAMS.iter().map(|p| p.weight).sum();
        let mut roll = self.dice.below(total);
        for program in PROGRAMS {
            if roll < program.weight {
                return program;
            }
            roll -= program.weight;
        }
        &PROGRAMS[0]
    }

    /// A stable hash of a file name (the same program has the same hash everywhere).
    fn file_hash(name: &str, length: usize) -> String {
        let mut state: u64 = 0xcbf2_9ce4_8422_2325;
        let mut text = String::with_capacity(length);
        while text.len() < length {
            for byte in name.bytes() {
                state = (state ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            text.push_str(&format!("{state:016x}"));
        }
        text.truncate(length);
        text
    }

    fn device(table: &'static Table, host: &Host, at: i64, action: &str) -> RowBuilder {
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("DeviceId", host.id.as_str())
            .set("DeviceName", host.name.as_str())
            .set("ActionType", action)
    }

    #[allow(clippy::too_many_arguments, reason = "one event's facts")]
    fn process_row(
        &mut self,
        table: &'static Table,
        host: &Host,
        person: &Person,
        at: i64,
        file: &str,
        folder: &str,
        command: &str,
    ) -> EventRow {
        let process_id = 1000 + self.dice.below(60_000) as i64;
        let report = self.next_report();
        Self::device(table, host, at, "ProcessCreated")
            .set("FileName", file)
            .set("FolderPath", format!("{folder}\\{file}"))
            .set("SHA1", Self::file_hash(file, 40))
            .set("SHA256", Self::file_hash(file, 64))
            .set("MD5", Self::file_hash(file, 32))
            .set("FileSize", 20_000 + i64::from_str_radix(&Self::file_hash(file, 6), 16).unwrap_or(0) % 4_000_000)
            .set("ProcessId", process_id)
            .set("ProcessCommandLine", command)
            .set("ProcessIntegrityLevel", "Medium")
            .set("ProcessTokenElevation", "TokenElevationTypeDefault")
            .set("ProcessCreationTime", at)
            .set("AccountDomain", person.domain.as_str())
            .set("AccountName", person.name.as_str())
            .set("AccountSid", person.sid.as_str())
            .set("AccountUpn", person.upn.as_str())
            .set("AccountObjectId", person.object_id.as_str())
            .set("InitiatingProcessAccountName", person.name.as_str())
            .set("InitiatingProcessFileName", "explorer.exe")
            .set("InitiatingProcessFolderPath", "C:\\Windows\\explorer.exe")
            .set("InitiatingProcessId", 4000 + process_id % 1000)
            .set("InitiatingProcessCommandLine", "explorer.exe")
            .set("InitiatingProcessParentFileName", "userinit.exe")
            .set("ReportId", report)
            .build()
    }

    fn network_row(
        &mut self,
        table: &'static Table,
        host: &Host,
        person: &Person,
        at: i64,
        remote_ip: Option<&str>,
        remote_url: Option<&str>,
    ) -> EventRow {
        let port = {
            let mut roll = self.dice.below(1000);
            let mut chosen = 443;
            for (port, weight) in PORTS {
                if roll < *weight {
                    chosen = *port;
                    break;
                }
                roll -= weight;
            }
            chosen
        };
        let ip = match remote_ip {
            Some(ip) => ip.to_owned(),
            None => self.public_ip(),
        };
        let url = match remote_url {
            Some(url) => Some(url.to_owned()),
            None if port == 443 || port == 80 => Some((*self.dice.pick(URLS)).to_owned()),
            None => None,
        };
        let program = *self.dice.pick(&["chrome.exe", "msedge.exe", "svchost.exe", "ms-teams.exe", "OUTLOOK.EXE"]);
        let action = if self.dice.below(20) == 0 { "ConnectionFailed" } else { "ConnectionSuccess" };
        let local_port = 49_152 + self.dice.below(16_000) as i64;
        let report = self.next_report();
        let row = Self::device(table, host, at, action)
            .set("RemoteIP", ip)
            .set("RemotePort", port)
            .maybe("RemoteUrl", url)
            .set("LocalIP", host.ip.as_str())
            .set("LocalPort", local_port)
            .set("Protocol", if port == 53 { "Udp" } else { "Tcp" })
            .set("LocalIPType", "Private")
            .set("RemoteIPType", "Public");
        self.initiated_by(row, program, person).set("ReportId", report).build()
    }

    #[allow(clippy::too_many_arguments, reason = "one event's facts")]
    fn file_row(
        &mut self,
        table: &'static Table,
        host: &Host,
        person: &Person,
        at: i64,
        file: &str,
        folder: &str,
        sha1: Option<&str>,
        sha256: Option<&str>,
    ) -> EventRow {
        let report = self.next_report();
        let action = *self.dice.pick(&["FileCreated", "FileModified", "FileRenamed"]);
        Self::device(table, host, at, action)
            .set("FileName", file)
            .set("FolderPath", format!("{folder}\\{file}"))
            .set("SHA1", sha1.map_or_else(|| Self::file_hash(file, 40), str::to_owned))
            .set("SHA256", sha256.map_or_else(|| Self::file_hash(file, 64), str::to_owned))
            .set("InitiatingProcessAccountDomain", person.domain.as_str())
            .set("InitiatingProcessAccountName", person.name.as_str())
            .set("InitiatingProcessAccountSid", person.sid.as_str())
            .set("InitiatingProcessFileName", "explorer.exe")
            .set("ReportId", report)
            .build()
    }

    fn logon_row(&mut self, table: &'static Table, host: &Host, person: &Person, at: i64) -> EventRow {
        let failed = self.dice.below(10) == 0;
        let logon_type = *self.dice.pick(&["Interactive", "RemoteInteractive", "Network", "Unlock"]);
        let logon_id = 100_000 + self.dice.below(900_000) as i64;
        let report = self.next_report();
        Self::device(table, host, at, if failed { "LogonFailed" } else { "LogonSuccess" })
            .set("AccountDomain", person.domain.as_str())
            .set("AccountName", person.name.as_str())
            .set("AccountSid", person.sid.as_str())
            .set("LogonType", logon_type)
            .set("LogonId", logon_id)
            .set("IsLocalAdmin", self.dice.below(8) == 0)
            .set("ReportId", report)
            .build()
    }

    fn registry_row(&mut self, table: &'static Table, host: &Host, person: &Person, at: i64) -> EventRow {
        let key = *self.dice.pick(&[
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
            "HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook",
            "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\WinDefend",
        ]);
        let report = self.next_report();
        Self::device(table, host, at, "RegistryValueSet")
            .set("RegistryKey", key)
            .set("RegistryValueType", "String")
            .set("RegistryValueName", *self.dice.pick(&["OneDrive", "Teams", "Start", "LastUpdate"]))
            .set("RegistryValueData", format!("{}", self.dice.below(100_000)))
            .set("InitiatingProcessAccountName", person.name.as_str())
            .set("InitiatingProcessFileName", "svchost.exe")
            .set("ReportId", report)
            .build()
    }

    fn mail_row(
        &mut self,
        table: &'static Table,
        person: &Person,
        at: i64,
        sender: &str,
        subject: &str,
        message: &str,
    ) -> EventRow {
        let report = self.next_report();
        let sender_domain = sender.rsplit('@').next().unwrap_or(sender);
        let row = RowBuilder::new(table).set("Timestamp", at).set("NetworkMessageId", message).set("ReportId", report);
        match table.name {
            "EmailAttachmentInfo" => row
                .set("SenderFromAddress", sender)
                .set("RecipientEmailAddress", person.upn.as_str())
                .set("RecipientObjectId", person.object_id.as_str())
                .set("FileName", "invoice.pdf")
                .set("FileType", "pdf")
                .set("SHA256", Self::file_hash(message, 64))
                .build(),
            "EmailUrlInfo" => {
                let domain = *self.dice.pick(URLS);
                row.set("Url", format!("https://{domain}/{}", &message[..8])).set("UrlDomain", domain).build()
            }
            _ => row
                .set("InternetMessageId", format!("<{message}@{sender_domain}>"))
                .set("SenderMailFromAddress", sender)
                .set("SenderFromAddress", sender)
                .set("SenderMailFromDomain", sender_domain)
                .set("SenderFromDomain", sender_domain)
                .set("SenderIPv4", self.public_ip())
                .set("RecipientEmailAddress", person.upn.as_str())
                .set("Subject", subject)
                .set("EmailDirection", if sender_domain == self.domain { "Intra-org" } else { "Inbound" })
                .set("DeliveryAction", "Delivered")
                .set("DeliveryLocation", "Inbox/folder")
                .set("AttachmentCount", self.dice.below(3) as i64)
                .set("UrlCount", self.dice.below(4) as i64)
                .build(),
        }
    }

    fn identity_row(
        &mut self,
        table: &'static Table,
        host: &Host,
        person: &Person,
        at: i64,
        ip: Option<&str>,
    ) -> EventRow {
        let failed = self.dice.below(12) == 0;
        let ip = ip.map_or_else(|| self.public_ip(), str::to_owned);
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("ActionType", if failed { "LogonFailed" } else { "LogonSuccess" })
            .set("LogonType", "Login:reauth")
            .set("Application", *self.dice.pick(&["Microsoft 365", "Azure Portal", "Microsoft Teams"]))
            .set("Protocol", "OAuth2")
            .maybe("FailureReason", failed.then_some("InvalidPassword"))
            .set("AccountName", person.name.as_str())
            .set("AccountDomain", person.domain.as_str())
            .set("AccountUpn", person.upn.as_str())
            .set("AccountSid", person.sid.as_str())
            .set("AccountObjectId", person.object_id.as_str())
            .set("DeviceName", host.name.as_str())
            .set("OSPlatform", host.platform.as_str())
            .set("IPAddress", ip)
            .set("ReportId", report)
            .build()
    }

    /// A DLL a program of the fleet loads.
    fn image_load_row(&mut self, table: &'static Table, host: &Host, person: &Person, at: i64) -> EventRow {
        let dll = *self.dice.pick(&["amsi.dll", "wininet.dll", "crypt32.dll", "clr.dll", "vaultcli.dll", "samlib.dll"]);
        let program = *self.dice.pick(&["powershell.exe", "chrome.exe", "OUTLOOK.EXE", "svchost.exe", "rundll32.exe"]);
        let report = self.next_report();
        let row = Self::device(table, host, at, "ImageLoaded")
            .set("FileName", dll)
            .set("FolderPath", format!("C:\\Windows\\System32\\{dll}"))
            .set("SHA1", Self::file_hash(dll, 40))
            .set("SHA256", Self::file_hash(dll, 64));
        self.initiated_by(row, program, person).set("ReportId", report).build()
    }

    /// The process behind an event: `program`, run by `person`.
    fn initiated_by(&mut self, row: RowBuilder, program: &str, person: &Person) -> RowBuilder {
        row.set("InitiatingProcessFileName", program)
            .set("InitiatingProcessSHA1", Self::file_hash(program, 40))
            .set("InitiatingProcessId", 2000 + self.dice.below(30_000) as i64)
            .set("InitiatingProcessAccountDomain", person.domain.as_str())
            .set("InitiatingProcessAccountName", person.name.as_str())
            .set("InitiatingProcessAccountSid", person.sid.as_str())
    }

    /// A `DeviceEvents` event: its `ActionType`, with `AdditionalFields` as JSON.
    #[allow(clippy::too_many_arguments, reason = "one event's facts")]
    fn device_event_row(
        &mut self,
        table: &'static Table,
        host: &Host,
        person: &Person,
        at: i64,
        action: &str,
        fields: &str,
        file: Option<(&str, Option<&str>)>,
    ) -> EventRow {
        let report = self.next_report();
        Self::device(table, host, at, action)
            .maybe("FileName", file.map(|(name, _)| name))
            .maybe("SHA1", file.and_then(|(_, sha1)| sha1))
            .set("AccountDomain", person.domain.as_str())
            .set("AccountName", person.name.as_str())
            .set("AccountSid", person.sid.as_str())
            .set(
                "InitiatingProcessFileName",
                if action == "PowerShellCommand" { "powershell.exe" } else { "MsMpEng.exe" },
            )
            .set("InitiatingProcessAccountName", person.name.as_str())
            .set("AdditionalFields", fields)
            .set("ReportId", report)
            .build()
    }

    /// An activity in a cloud app (Exchange, SharePoint, Teams), with its raw event as JSON.
    fn cloud_app_row(&mut self, table: &'static Table, person: &Person, at: i64) -> EventRow {
        let (application, id, action) = *self.dice.pick(&[
            ("Microsoft Exchange Online", 20_893_i64, "MailItemsAccessed"),
            ("Microsoft Exchange Online", 20_893, "New-InboxRule"),
            ("Microsoft SharePoint Online", 20_892, "FileDownloaded"),
            ("Microsoft Teams", 28_375, "MessageSent"),
            ("Microsoft 365", 11_161, "UserLoggedIn"),
        ]);
        let ip = self.public_ip();
        let raw = serde_json::json!({
            "Operation": action,
            "ResultStatus": "Succeeded",
            "UserId": person.upn,
            "ClientIP": ip,
        });
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("ActionType", action)
            .set("Application", application)
            .set("ApplicationId", id)
            .set("AccountObjectId", person.object_id.as_str())
            .set("AccountId", person.object_id.as_str())
            .set("AccountDisplayName", person.name.as_str())
            .set("IsAdminOperation", false)
            .set("IPAddress", ip.as_str())
            .set("IsAnonymousProxy", false)
            .set("CountryCode", *self.dice.pick(&["US", "GB", "DE", "NL"]))
            .set("ActivityType", "Basic")
            .set("ObjectName", person.upn.as_str())
            .set("ReportId", report.to_string())
            .set("RawEventData", raw.to_string())
            .build()
    }

    /// An LDAP or DNS query a device sent to a domain controller.
    fn identity_query_row(&mut self, table: &'static Table, host: &Host, person: &Person, at: i64) -> EventRow {
        let (action, query_type, target, protocol) = *self.dice.pick(&[
            ("LDAP query", "AllUsers", "All users", "Ldap"),
            ("LDAP query", "AllGroups", "Domain Admins", "Ldap"),
            ("DNS query", "A", "login.microsoftonline.com", "Dns"),
            ("SAMR query", "QueryUser", "Administrator", "Samr"),
        ]);
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("ActionType", action)
            .set("Application", "Active Directory")
            .set("QueryType", query_type)
            .set("QueryTarget", target)
            .set("Protocol", protocol)
            .set("AccountName", person.name.as_str())
            .set("AccountDomain", person.domain.as_str())
            .set("AccountUpn", person.upn.as_str())
            .set("AccountSid", person.sid.as_str())
            .set("DeviceName", host.name.as_str())
            .set("IPAddress", host.ip.as_str())
            .set("DestinationDeviceName", format!("dc01.{}", self.domain))
            .set("ReportId", report.to_string())
            .build()
    }

    /// A change on the domain controller (a password, a group membership).
    fn identity_directory_row(&mut self, table: &'static Table, host: &Host, person: &Person, at: i64) -> EventRow {
        let group = *self.dice.pick(&["Helpdesk", "VPN Users", "Domain Admins"]);
        let (action, fields) = if self.dice.below(2) == 0 {
            ("Account Password changed", serde_json::json!({ "TARGET_OBJECT.USER": person.name }))
        } else {
            ("Group Membership changed", serde_json::json!({ "TO.GROUP": group, "TARGET_OBJECT.USER": person.name }))
        };
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("ActionType", action)
            .set("Application", "Active Directory")
            .set("TargetAccountUpn", person.upn.as_str())
            .set("TargetAccountDisplayName", person.name.as_str())
            .set("DestinationDeviceName", format!("dc01.{}", self.domain))
            .set("Protocol", "Ldap")
            .set("AccountName", person.name.as_str())
            .set("AccountDomain", person.domain.as_str())
            .set("AccountUpn", person.upn.as_str())
            .set("AccountSid", person.sid.as_str())
            .set("DeviceName", host.name.as_str())
            .set("IPAddress", host.ip.as_str())
            .set("ReportId", report.to_string())
            .set("AdditionalFields", fields.to_string())
            .build()
    }

    /// A Safe Links click on a link in a mail.
    fn url_click_row(
        &mut self,
        table: &'static Table,
        person: &Person,
        at: i64,
        url: &str,
        message: &str,
        phish: bool,
    ) -> EventRow {
        let ip = self.public_ip();
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("Url", url)
            .set("ActionType", if phish { "ClickBlocked" } else { "ClickAllowed" })
            .set("AccountUpn", person.upn.as_str())
            .set("Workload", "Email")
            .set("NetworkMessageId", message)
            .set("ThreatTypes", if phish { "Phish" } else { "" })
            .set("IPAddress", ip)
            .set("IsClickedThrough", !phish)
            .set("ReportId", report.to_string())
            .build()
    }

    /// An action taken on a delivered mail.
    fn post_delivery_row(
        &mut self,
        table: &'static Table,
        person: &Person,
        at: i64,
        message: &str,
        action_type: &str,
    ) -> EventRow {
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("NetworkMessageId", message)
            .set("InternetMessageId", format!("<{message}@mail.example>"))
            .set("Action", "Moved to quarantine")
            .set("ActionType", action_type)
            .set("ActionTrigger", if action_type == "Manual remediation" { "AdminAction" } else { "SpecialAction" })
            .set("ActionResult", "Success")
            .set("RecipientEmailAddress", person.upn.as_str())
            .set("DeliveryLocation", "Quarantine")
            .set("ThreatTypes", if action_type == "Phish ZAP" { "Phish" } else { "" })
            .set("ReportId", report.to_string())
            .build()
    }

    /// The events behind `alert`, on its own device, user and evidence (and a `DeviceInfo`
    /// row the first time a device is seen); the device and user join the fleet, so ordinary
    /// events mention them too. Only the chosen tables' events are returned.
    pub fn observe(&mut self, alert: &Alert) -> Vec<(&'static Table, EventRow)> {
        let Some(at) = parse_datetime_ticks(&alert.first_activity) else { return Vec::new() };
        let person = alert.entities.iter().find(|e| e.entity_type == "User").map(|user| self.person_of(user));
        let person = person.unwrap_or_else(|| self.pick_person());
        let mut events = Vec::new();
        let mut host = None;
        for device in &alert.devices {
            let known = self.hosts.iter().position(|h| h.id == device.mdatp_device_id);
            let seen = match known {
                Some(index) => self.hosts[index].clone(),
                None => {
                    let new = Host {
                        id: device.mdatp_device_id.clone(),
                        name: device.device_dns_name.clone(),
                        ip: format!(
                            "10.{}.{}.{}",
                            8 + self.dice.below(8),
                            self.dice.below(256),
                            1 + self.dice.below(254)
                        ),
                        platform: device.os_platform.clone(),
                    };
                    self.hosts.push(new.clone());
                    if let Some(table) = schema::table("DeviceInfo") {
                        events.push((
                            table,
                            self.device_info_row(table, &new, device.os_build, at - 3600 * TICKS_PER_SECOND),
                        ));
                    }
                    new
                }
            };
            host = Some(seen);
        }
        let host = host.unwrap_or_else(|| self.pick_host());
        for entity in &alert.entities {
            let table_named = |name| schema::table(name).unwrap_or(&schema::TABLES[0]);
            match entity.entity_type.as_str() {
                "Process" => {
                    let command = entity.process_command_line.as_deref().unwrap_or("powershell.exe");
                    let file = command.split_whitespace().next().unwrap_or("powershell.exe").trim_matches('"');
                    let folder = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0";
                    let table = table_named("DeviceProcessEvents");
                    events.push((table, self.process_row(table, &host, &person, at, file, folder, command)));
                }
                "File" => {
                    let file = entity.file_name.as_deref().unwrap_or("payload.bin");
                    let folder = entity.file_path.as_deref().unwrap_or("C:\\Users\\Public\\Downloads");
                    let table = table_named("DeviceFileEvents");
                    let row = self.file_row(
                        table,
                        &host,
                        &person,
                        at,
                        file,
                        folder,
                        entity.sha1.as_deref(),
                        entity.sha256.as_deref(),
                    );
                    events.push((table, row));
                    // Defender Antivirus detects the file.
                    let table = table_named("DeviceEvents");
                    let fields = serde_json::json!({ "ThreatName": alert.threat_family_name.as_deref().unwrap_or("Generic"), "WasRemediated": true });
                    let sha1 = entity.sha1.as_deref();
                    let row = self.device_event_row(
                        table,
                        &host,
                        &person,
                        at,
                        "AntivirusDetection",
                        &fields.to_string(),
                        Some((file, sha1)),
                    );
                    events.push((table, row));
                    if file.ends_with(".exe") {
                        let table = table_named("DeviceProcessEvents");
                        let command = format!("{file} privilege::debug sekurlsa::logonpasswords exit");
                        let mut row =
                            self.process_row(table, &host, &person, at + TICKS_PER_SECOND, file, folder, &command);
                        set_hashes(table, &mut row, entity);
                        events.push((table, row));
                    }
                }
                "Url" => {
                    let table = table_named("DeviceNetworkEvents");
                    let url = entity.url.as_deref();
                    let ip = self.public_ip();
                    events.push((table, self.network_row(table, &host, &person, at, Some(&ip), url)));
                }
                "Ip" if !alert.devices.is_empty() => {
                    let table = table_named("DeviceNetworkEvents");
                    events
                        .push((table, self.network_row(table, &host, &person, at, entity.ip_address.as_deref(), None)));
                }
                "Ip" => {
                    let table = table_named("IdentityLogonEvents");
                    events.push((table, self.identity_row(table, &host, &person, at, entity.ip_address.as_deref())));
                }
                "MailMessage" => {
                    let sender = entity.sender.as_deref().unwrap_or("unknown@example.com");
                    let subject = entity.subject.as_deref().unwrap_or("");
                    let message = self.dice.hex(16);
                    for name in ["EmailEvents", "EmailUrlInfo"] {
                        let table = table_named(name);
                        events.push((table, self.mail_row(table, &person, at, sender, subject, &message)));
                    }
                    // The recipient clicks the link (Safe Links blocks it), then ZAP pulls the mail.
                    let domain = sender.rsplit('@').next().unwrap_or("example.com");
                    let table = table_named("UrlClickEvents");
                    let url = format!("https://{domain}/login");
                    events.push((
                        table,
                        self.url_click_row(table, &person, at + 60 * TICKS_PER_SECOND, &url, &message, true),
                    ));
                    let table = table_named("EmailPostDeliveryEvents");
                    events.push((
                        table,
                        self.post_delivery_row(table, &person, at + 600 * TICKS_PER_SECOND, &message, "Phish ZAP"),
                    ));
                }
                "User" if !alert.devices.is_empty() => {
                    let table = table_named("DeviceLogonEvents");
                    events.push((table, self.logon_row(table, &host, &person, at - 600 * TICKS_PER_SECOND)));
                }
                "User" => {
                    let table = table_named("IdentityLogonEvents");
                    events.push((table, self.identity_row(table, &host, &person, at, None)));
                }
                _ => {}
            }
        }
        let chosen: Vec<&str> = self.mix.iter().map(|(table, _)| table.name).collect();
        let all = chosen.len() == MIX.len();
        events.retain(|(table, _)| all || chosen.contains(&table.name));
        events
    }

    fn person_of(&mut self, user: &Entity) -> Person {
        let sid = user.user_sid.clone().unwrap_or_default();
        if let Some(known) = self.people.iter().find(|p| p.sid == sid) {
            return known.clone();
        }
        let person = Person {
            name: user.account_name.clone().unwrap_or_default(),
            domain: user.domain_name.clone().unwrap_or_default(),
            sid,
            upn: user.user_principal_name.clone().unwrap_or_default(),
            object_id: user.aad_user_id.clone().unwrap_or_default(),
        };
        self.people.push(person.clone());
        person
    }

    fn device_info_row(&mut self, table: &'static Table, host: &Host, build: Option<i64>, at: i64) -> EventRow {
        let report = self.next_report();
        RowBuilder::new(table)
            .set("Timestamp", at)
            .set("DeviceId", host.id.as_str())
            .set("DeviceName", host.name.as_str())
            .set("ClientVersion", "10.8760.22621.1000")
            .set("PublicIP", self.public_ip())
            .set("OSArchitecture", "64-bit")
            .set("OSPlatform", host.platform.as_str())
            .maybe("OSBuild", build)
            .set("IsAzureADJoined", true)
            .set("MachineGroup", "WDATP-Ring0")
            .set("ReportId", report)
            .build()
    }

    /// `DeviceInfo` rows for the fleet, one per device, when it is among the chosen tables
    /// (all tables chosen).
    pub fn fleet_inventory(&mut self) -> Vec<(&'static Table, EventRow)> {
        let Some(table) = schema::table("DeviceInfo") else { return Vec::new() };
        if self.mix.len() != MIX.len() {
            return Vec::new();
        }
        let hosts = self.hosts.clone();
        let at = self.now - self.span;
        let mut rows: Vec<(&'static Table, EventRow)> =
            hosts.iter().map(|host| (table, self.device_info_row(table, host, Some(22_631), at))).collect();
        let (Some(network), Some(software), Some(vulnerabilities), Some(identities)) = (
            schema::table("DeviceNetworkInfo"),
            schema::table("DeviceTvmSoftwareInventory"),
            schema::table("DeviceTvmSoftwareVulnerabilities"),
            schema::table("IdentityInfo"),
        ) else {
            return rows;
        };
        for host in &hosts {
            let report = self.next_report();
            rows.push((
                network,
                RowBuilder::new(network)
                    .set("Timestamp", at)
                    .set("DeviceId", host.id.as_str())
                    .set("DeviceName", host.name.as_str())
                    .set("NetworkAdapterName", "Ethernet")
                    .set("MacAddress", self.dice.hex(12).to_uppercase())
                    .set("NetworkAdapterType", "Ethernet")
                    .set("NetworkAdapterStatus", "Up")
                    .set(
                        "ConnectedNetworks",
                        format!(r#"[{{"Name":"{}","Category":"Domain","IsConnectedToInternet":true}}]"#, self.domain),
                    )
                    .set("DnsAddresses", r#"["10.0.0.10"]"#)
                    .set(
                        "IPAddresses",
                        format!(r#"[{{"IPAddress":"{}","SubnetPrefix":24,"AddressType":"Private"}}]"#, host.ip),
                    )
                    .set("DefaultGateways", r#"["10.0.0.1"]"#)
                    .set("ReportId", report)
                    .build(),
            ));
            // The installed software, one version behind on a quarter of the devices, which
            // then carry its vulnerability.
            let old = self.dice.below(4) == 0;
            for (vendor, product, version) in [
                ("microsoft", "edge", "131.0.2903.70"),
                ("google", "chrome", if old { "119.0.6045.105" } else { "131.0.6778.86" }),
                ("7-zip", "7-zip", "24.08"),
            ] {
                rows.push((
                    software,
                    RowBuilder::new(software)
                        .set("DeviceId", host.id.as_str())
                        .set("DeviceName", host.name.as_str())
                        .set("OSPlatform", host.platform.as_str())
                        .set("OSArchitecture", "x64")
                        .set("SoftwareVendor", vendor)
                        .set("SoftwareName", product)
                        .set("SoftwareVersion", version)
                        .set("EndOfSupportStatus", "")
                        .build(),
                ));
            }
            if old {
                rows.push((
                    vulnerabilities,
                    RowBuilder::new(vulnerabilities)
                        .set("DeviceId", host.id.as_str())
                        .set("DeviceName", host.name.as_str())
                        .set("OSPlatform", host.platform.as_str())
                        .set("OSArchitecture", "x64")
                        .set("SoftwareVendor", "google")
                        .set("SoftwareName", "chrome")
                        .set("SoftwareVersion", "119.0.6045.105")
                        .set("CveId", "CVE-2023-6345")
                        .set("VulnerabilitySeverityLevel", "High")
                        .set("RecommendedSecurityUpdate", "Update Chrome to 119.0.6045.199 or later")
                        .set("CveTags", r#"["ZeroDay"]"#)
                        .build(),
                ));
            }
        }
        let people = self.people.clone();
        for person in &people {
            let report = self.next_report();
            rows.push((
                identities,
                RowBuilder::new(identities)
                    .set("Timestamp", at)
                    .set("ReportId", report.to_string())
                    .set("AccountObjectId", person.object_id.as_str())
                    .set("AccountUpn", person.upn.as_str())
                    .set("OnPremSid", person.sid.as_str())
                    .set("AccountDisplayName", person.name.as_str())
                    .set("AccountName", person.name.as_str())
                    .set("AccountDomain", person.domain.as_str())
                    .set("Type", "User")
                    .set("Department", *self.dice.pick(&["Finance", "Sales", "IT", "Engineering"]))
                    .set("EmailAddress", person.upn.as_str())
                    .set("IsAccountEnabled", true)
                    .build(),
            ));
        }
        rows
    }
}

/// The alert's own hashes on the process event of its file.
fn set_hashes(table: &'static Table, row: &mut EventRow, entity: &Entity) {
    for (column, value) in [("SHA1", &entity.sha1), ("SHA256", &entity.sha256)] {
        if let (Some(index), Some(value)) = (table.columns.iter().position(|c| c.name == column), value) {
            row[index] = Some(value.as_str().into());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests")]

    use std::collections::HashMap;

    use threatgate_hunting::events::EventValue;
    use threatgate_hunting::schema::Type;

    use super::*;
    use crate::generator::AlertGenerator;

    fn now() -> i64 {
        parse_datetime_ticks("2026-11-20T12:00:00Z").expect("a time")
    }

    fn text(table: &Table, row: &EventRow, column: &str) -> Option<String> {
        let index = table.columns.iter().position(|c| c.name == column).expect("a column");
        match &row[index] {
            Some(EventValue::Text(text)) => Some(text.clone()),
            _ => None,
        }
    }

    fn run(seed: u64, events: usize) -> Vec<(&'static str, EventRow)> {
        let mut generator = EventGenerator::new(seed, "contoso.com", now(), 30, events as u64);
        let mut out: Vec<(&'static str, EventRow)> = Vec::new();
        for (_, alert) in AlertGenerator::new(seed, "contoso.com", 20, now(), 30) {
            out.extend(generator.observe(&alert).into_iter().map(|(t, r)| (t.name, r)));
        }
        out.extend(generator.fleet_inventory().into_iter().map(|(t, r)| (t.name, r)));
        out.extend((0..events).map(|_| generator.next_event()).map(|(t, r)| (t.name, r)));
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_every_row_fits_its_table() {
        let first = run(3, 5000);
        assert_eq!(first, run(3, 5000));
        assert_ne!(first, run(4, 5000));
        let mut per_table: HashMap<&str, usize> = HashMap::new();
        for (name, row) in &first {
            let table = schema::table(name).expect("a table");
            assert_eq!(row.len(), table.columns.len());
            // Each value is of its column's type (dynamic ones JSON).
            for (column, value) in table.columns.iter().zip(row) {
                let fits = match (column.ty, value) {
                    (_, None) => true,
                    (Type::String, Some(EventValue::Text(_))) => true,
                    (Type::Dynamic, Some(EventValue::Text(json))) => {
                        serde_json::from_str::<serde_json::Value>(json).is_ok()
                    }
                    (Type::DateTime | Type::TimeSpan | Type::Int | Type::Long, Some(EventValue::Long(_))) => true,
                    (Type::Real, Some(EventValue::Real(_))) => true,
                    (Type::Bool, Some(EventValue::Bool(_))) => true,
                    _ => false,
                };
                assert!(fits, "{name}.{}: {value:?}", column.name);
            }
            // Snapshot tables (vulnerability management) have no time.
            if table.column("Timestamp").is_some() {
                let Some(Some(EventValue::Long(at))) = row.first() else { panic!("{name} without a Timestamp") };
                assert!(*at <= now() && *at > now() - 31 * 86_400 * TICKS_PER_SECOND, "{name} at {at}");
            }
            *per_table.entry(name).or_default() += 1;
        }
        let inventory =
            ["DeviceNetworkInfo", "DeviceTvmSoftwareInventory", "DeviceTvmSoftwareVulnerabilities", "IdentityInfo"];
        for name in EventGenerator::table_names().chain(inventory) {
            assert!(per_table.get(name).copied().unwrap_or(0) > 0, "no {name} events");
        }
    }

    #[test]
    fn alerts_devices_users_and_files_appear_in_the_events() {
        let events = run(5, 2000);
        for (_, alert) in AlertGenerator::new(5, "contoso.com", 20, now(), 30) {
            for device in &alert.devices {
                assert!(
                    events.iter().any(|(name, row)| {
                        let table = schema::table(name).expect("a table");
                        table.columns.iter().any(|c| c.name == "DeviceName")
                            && text(table, row, "DeviceName").as_deref() == Some(device.device_dns_name.as_str())
                    }),
                    "device {} of {} is in no event",
                    device.device_dns_name,
                    alert.alert_id
                );
            }
            for entity in &alert.entities {
                let (column, value) = match entity.entity_type.as_str() {
                    "File" => ("SHA256", entity.sha256.clone()),
                    "User" => ("AccountSid", entity.user_sid.clone()),
                    "Process" => ("ProcessCommandLine", entity.process_command_line.clone()),
                    "Url" => ("RemoteUrl", entity.url.clone()),
                    _ => continue,
                };
                assert!(
                    events.iter().any(|(name, row)| {
                        let table = schema::table(name).expect("a table");
                        table.columns.iter().any(|c| c.name == column) && text(table, row, column) == value
                    }),
                    "{column} {value:?} of {} is in no event",
                    alert.alert_id
                );
            }
        }
    }

    #[test]
    fn the_benchmark_distributions_hold() {
        let mut generator = EventGenerator::new(1, "contoso.com", now(), 30, 100_000);
        generator.only(&["DeviceProcessEvents", "DeviceNetworkEvents"]);
        let (mut process, mut powershell, mut minidump, mut network, mut https) = (0, 0, 0, 0, 0);
        let mut latest = 0;
        for _ in 0..100_000 {
            let (table, row) = generator.next_event();
            let Some(Some(EventValue::Long(at))) = row.first() else { panic!("no Timestamp") };
            assert!(*at >= latest - 60 * TICKS_PER_SECOND && *at <= now(), "in time order, within a minute");
            latest = latest.max(*at);
            match table.name {
                "DeviceProcessEvents" => {
                    process += 1;
                    powershell += usize::from(text(table, &row, "FileName").as_deref() == Some("powershell.exe"));
                    minidump +=
                        usize::from(text(table, &row, "ProcessCommandLine").is_some_and(|c| c.contains("MiniDump")));
                }
                "DeviceNetworkEvents" => {
                    network += 1;
                    let index = table.columns.iter().position(|c| c.name == "RemotePort").expect("a column");
                    https += usize::from(row[index] == Some(EventValue::Long(443)));
                }
                other => panic!("{other} was not chosen"),
            }
        }
        assert!(process > 50_000 && network > 40_000, "{process} {network}");
        assert_eq!(minidump, process / 1000);
        assert!((powershell as f64 / process as f64 - 0.06).abs() < 0.01, "{powershell} of {process}");
        assert!((https as f64 / network as f64 - 0.6).abs() < 0.02, "{https} of {network}");
    }
}
