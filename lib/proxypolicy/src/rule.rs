//! The rules of the policy table, named in denials and in the audit log.

use std::fmt;

/// The rule a verdict applied; named in every denial and log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Read,
    Declared,
    InstanceOperation,
    Orphan,
    OwnOperation,
    DefaultDeny,
    BadPath,
    BadBody,
    ForeignProject,
    AllProjects,
    ServerConfig,
    Certificates,
    StoragePools,
    Cluster,
    Images,
    UndeclaredProject,
    ProjectRestrictions,
    UndeclaredNetwork,
    UndeclaredProfile,
    UndeclaredInstance,
    UndeclaredKey,
    IncusKey,
    Raw,
    Privileged,
    Nesting,
    Syscalls,
    KernelModules,
    HostDisk,
    UnixDevice,
    Usb,
    Pci,
    Nic,
    ProxyDevice,
    Gpu,
    UndeclaredDevice,
    InstanceType,
    ImageSource,
    Profiles,
    DeleteDeclared,
    Rename,
    ForeignOperation,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        use Rule::*;
        match self {
            Read => "read",
            Declared => "declared",
            InstanceOperation => "instance-operation",
            Orphan => "orphan",
            OwnOperation => "own-operation",
            DefaultDeny => "default-deny",
            BadPath => "bad-path",
            BadBody => "bad-body",
            ForeignProject => "foreign-project",
            AllProjects => "all-projects",
            ServerConfig => "server-config",
            Certificates => "certificates",
            StoragePools => "storage-pools",
            Cluster => "cluster",
            Images => "images",
            UndeclaredProject => "undeclared-project",
            ProjectRestrictions => "project-restrictions",
            UndeclaredNetwork => "undeclared-network",
            UndeclaredProfile => "undeclared-profile",
            UndeclaredInstance => "undeclared-instance",
            UndeclaredKey => "undeclared-key",
            IncusKey => "incus-key",
            Raw => "raw",
            Privileged => "privileged",
            Nesting => "nesting",
            Syscalls => "syscalls",
            KernelModules => "kernel-modules",
            HostDisk => "host-disk",
            UnixDevice => "unix-device",
            Usb => "usb",
            Pci => "pci",
            Nic => "nic",
            ProxyDevice => "proxy-device",
            Gpu => "gpu",
            UndeclaredDevice => "undeclared-device",
            InstanceType => "instance-type",
            ImageSource => "image-source",
            Profiles => "profiles",
            DeleteDeclared => "delete-declared",
            Rename => "rename",
            ForeignOperation => "foreign-operation",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
