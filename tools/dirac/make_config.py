"""Write the configuration of a one-host DIRAC (run with DIRAC's Python by start.sh).

    python make_config.py STATE DBPORT

No Configuration Server: every process reads local cfg files (``DIRACSYSCONFIG``).
Writes, under STATE:

- ``etc/common.cfg``: VO ``vo``, user ``ciuser`` (groups ``dirac_user`` with NormalUser,
  ``dirac_admin``), the host, the site ``DIRAC.Local.ch`` with an InProcess CE (the
  JobAgent's Pool CE of 2+ processors runs payloads through it), the storage
  elements ``SE-1`` (plain folder, ``file`` protocol) and ``ProductionSandboxSE`` (the
  SandboxStore over ``dips``), the File Catalog, Operations (input data policy, protocols);
- ``etc/systems.cfg``: each component's section from DIRAC's own ``ConfigTemplate.cfg``
  (what ``dirac-install-component`` would put in the CS), its URL, its database;
- ``etc/server.cfg`` (host certificate), ``client/etc/client.cfg`` (user proxy);
- ``etc/dirac.cfg`` = common + systems: the JobAgent and the job wrapper read
  ``$DIRAC/etc/dirac.cfg``.

The facts behind each setting: ../shared/notes/local-dirac/README.md (step 7).
"""

import os
import sys
from pathlib import Path

import DIRAC
from diraccfg import CFG

STATE = Path(sys.argv[1]).resolve()
DBPORT = int(sys.argv[2])
HOST_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"
USER_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
SE_PATH = STATE / "storage" / "SE-1"

#: Components run here, per system and kind.
COMPONENTS = {
    "DataManagement": {"Services": ["FileCatalog"]},
    "ResourceStatus": {"Services": ["ResourceStatus", "ResourceManagement"]},
    "Framework": {"Services": ["ProxyManager"]},
    "WorkloadManagement": {
        "Services": [
            "JobManager",
            "JobMonitoring",
            "JobStateUpdate",
            "Matcher",
            "WMSAdministrator",
            "PilotManager",
            "SandboxStore",
            "OptimizationMind",
        ],
        "Executors": ["Optimizers", "JobPath", "JobSanity", "InputData", "JobScheduling"],
        "Agents": ["JobAgent"],
    },
}
DATABASES = {
    "DataManagement": ["FileCatalogDB"],
    "ResourceStatus": ["ResourceStatusDB", "ResourceManagementDB"],
    "Framework": ["ProxyDB"],
    "WorkloadManagement": [
        "JobDB",
        "JobLoggingDB",
        "TaskQueueDB",
        "SandboxMetadataDB",
        "PilotAgentsDB",
    ],
}

COMMON = f"""
DIRAC
{{
  VirtualOrganization = vo
  Hostname = localhost
  Configuration
  {{
    Name = LocalCS
  }}
  Security
  {{
    CALocation = {STATE}/etc/grid-security/certificates
    SkipCAChecks = True
  }}
}}
DiracX
{{
  DisabledVOs = vo
}}
LocalSite
{{
  Site = DIRAC.Local.ch
  GridCE = local.ce
  CEQueue = local-queue
  LocalSE = SE-1
  Architecture = x86_64-linux
  # the slot a JobAgent offers: the host's cores, at least 2 (the workflow's trainings run
  # 2 threads, and DIRAC matches a job of NumberOfProcessors = n only to a slot of n or
  # more). An InProcess CE alone always offers 1 (its getCEStatus reports 1 processor until
  # its first payload): the JobAgent's CE is a Pool CE, which runs each payload through an
  # InProcess CE, as multi-core pilots do.
  LocalCE = Pool
  NumberOfProcessors = {max(2, os.cpu_count() or 1)}
}}
Registry
{{
  DefaultGroup = dirac_user
  VO
  {{
    vo
    {{
      VOAdmin = ciuser
      DefaultGroup = dirac_user
    }}
  }}
  Users
  {{
    ciuser
    {{
      DN = {USER_DN}
      Email = ciuser@localhost
    }}
  }}
  Groups
  {{
    dirac_user
    {{
      Users = ciuser
      Properties = NormalUser
      VO = vo
    }}
    dirac_admin
    {{
      Users = ciuser
      Properties = SiteManager, AlarmsManagement, ServiceAdministrator, CSAdministrator, JobAdministrator, FullDelegation, ProxyManagement, Operator, FileCatalogManagement, NormalUser
      VO = vo
    }}
    dirac_data
    {{
      Users = ciuser
      Properties = FileCatalogManagement
      VO = vo
    }}
  }}
  Hosts
  {{
    localhost
    {{
      DN = {HOST_DN}
      Properties = TrustedHost, CSAdministrator, JobAdministrator, FullDelegation, ProxyManagement, Operator, GenericPilot, ServiceAdministrator, FileCatalogManagement, Production, SiteManager
    }}
  }}
}}
Systems
{{
  Databases
  {{
    User = Dirac
    Password = diracpw
    Host = 127.0.0.1
    Port = {DBPORT}
  }}
}}
Resources
{{
  FileCatalogs
  {{
    FileCatalog
    {{
      AccessType = Read-Write
      Status = Active
      Master = True
    }}
  }}
  StorageElements
  {{
    ProductionSandboxSE
    {{
      BackendType = DISET
      AccessProtocol = dips
      DIP
      {{
        Host = localhost
        Port = 9196
        ProtocolName = DIP
        PluginName = DIP
        Protocol = dips
        Access = remote
        Path = /WorkloadManagement/SandboxStore
      }}
    }}
    SE-1
    {{
      BackendType = local
      ReadAccess = Active
      WriteAccess = Active
      RemoveAccess = Active
      CheckAccess = Active
      File
      {{
        Host =
        PluginName = File
        Protocol = file
        Path = {SE_PATH}
        Access = remote
      }}
    }}
  }}
  Sites
  {{
    DIRAC
    {{
      DIRAC.Local.ch
      {{
        SE = SE-1
        CE = local.ce
        CEs
        {{
          local.ce
          {{
            CEType = InProcess
            Queues
            {{
              local-queue
              {{
                maxCPUTime = 100000
              }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
Operations
{{
  Defaults
  {{
    Services
    {{
      Catalogs
      {{
        CatalogList = FileCatalog
        FileCatalog
        {{
          AccessType = Read-Write
          Status = Active
          Master = True
        }}
      }}
    }}
    InputDataPolicy
    {{
      Default = DIRAC.WorkloadManagementSystem.Client.DownloadInputData
      Download = DIRAC.WorkloadManagementSystem.Client.DownloadInputData
      Protocol = DIRAC.WorkloadManagementSystem.Client.InputDataByProtocol
    }}
    ResourceStatus
    {{
      Config
      {{
        Cache = 60
        State = Active
        StatusTypes
        {{
          default = all
          StorageElement = ReadAccess,WriteAccess,CheckAccess,RemoveAccess
        }}
      }}
    }}
    MonitoringBackends
    {{
      # no Accounting or Monitoring service here: without this every data operation
      # waits for a request to the (absent) RequestManagement system
      Default =
    }}
    DataManagement
    {{
      RegistrationProtocols = file, dips
      AccessProtocols = file, dips
      WriteProtocols = file, dips
    }}
  }}
}}
"""

SERVER = f"""
DIRAC
{{
  Security
  {{
    UseServerCertificate = True
    CertFile = {STATE}/etc/grid-security/hostcert.pem
    KeyFile = {STATE}/etc/grid-security/hostkey.pem
  }}
}}
"""

CLIENT = """
DIRAC
{
  Security
  {
    UseServerCertificate = False
  }
}
"""

OVERRIDES = f"""
Systems
{{
  DataManagement
  {{
    Services
    {{
      FileCatalog
      {{
        SecurityManager = NoSecurityManager
        DirectoryManager = DirectoryLevelTree
        FileManager = FileManager
      }}
    }}
  }}
  WorkloadManagement
  {{
    Services
    {{
      SandboxStore
      {{
        BasePath = {STATE}/sandboxes
        LocalSE = ProductionSandboxSE
      }}
    }}
  }}
}}
"""


def systems_cfg():
    """Each component's ConfigTemplate section, its URL and its database, plus overrides."""
    root = Path(DIRAC.__file__).parent
    systems = CFG()
    for system, kinds in COMPONENTS.items():
        template = CFG().loadFromFile(str(root / f"{system}System" / "ConfigTemplate.cfg"))
        sys_cfg, urls = CFG(), CFG()
        for kind, names in kinds.items():
            kind_cfg = CFG()
            for name in names:
                have = kind in template.listSections() and name in template[kind].listSections()
                kind_cfg.createNewSection(
                    name, contents=template[kind][name].clone() if have else CFG()
                )
                if kind == "Services" and "Port" in kind_cfg[name].listOptions():
                    port = kind_cfg[name]["Port"]
                    urls.setOption(name, f"dips://localhost:{port}/{system}/{name}")
            sys_cfg.createNewSection(kind, contents=kind_cfg)
        sys_cfg.createNewSection("URLs", contents=urls)
        dbs = CFG()
        for db in DATABASES[system]:
            one = CFG()
            one.setOption("DBName", db)
            dbs.createNewSection(db, contents=one)
        sys_cfg.createNewSection("Databases", contents=dbs)
        systems.createNewSection(system, contents=sys_cfg)
    out = CFG()
    out.createNewSection("Systems", contents=systems)
    return out.mergeWith(CFG().loadFromBuffer(OVERRIDES))


def main():
    for sub in ("etc", "client/etc", "storage/SE-1", "sandboxes", "work", "log"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    common = CFG().loadFromBuffer(COMMON)
    systems = systems_cfg()
    (STATE / "etc" / "common.cfg").write_text(str(common))
    (STATE / "etc" / "systems.cfg").write_text(str(systems))
    (STATE / "etc" / "server.cfg").write_text(str(CFG().loadFromBuffer(SERVER)))
    (STATE / "client" / "etc" / "client.cfg").write_text(str(CFG().loadFromBuffer(CLIENT)))
    # the JobAgent and job wrapper read $DIRAC/etc/dirac.cfg: common + systems, no host
    # certificate (payloads use their owner's proxy)
    (STATE / "etc" / "dirac.cfg").write_text(str(common.mergeWith(systems)))
    print(f"showerflow-dirac: configuration written in {STATE}/etc")


if __name__ == "__main__":
    main()
