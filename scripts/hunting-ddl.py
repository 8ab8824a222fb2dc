#!/usr/bin/env python3
# Writes the advanced hunting tables' migrations (SQLite and PostgreSQL) from the KQL schema in
# crates/threatgate-hunting/src/schema.rs. Run from the repository root after changing the schema
# only for a migration that has not shipped; a store test checks that tables and schema agree.
import re
src=open('crates/threatgate-hunting/src/schema.rs').read()
tables=re.findall(r'Table \{ name: "(\w+)", columns: (\w+) \}', src)
consts={}
for m in re.finditer(r'const (\w+): &\[Column\] =\s*&\[(.*?)\];', src, re.S):
    consts[m.group(1)]=re.findall(r'c\("(\w+)", ([\w:]+)\)', m.group(2))
def snake(name):
    out=''
    for i,ch in enumerate(name):
        if ch.isupper():
            after_lower = i>0 and name[i-1].islower()
            before_lower = i+1<len(name) and name[i+1].islower() and i>0 and name[i-1].isupper()
            if after_lower or before_lower: out+='_'
            out+=ch.lower()
        else: out+=ch
    return 'ah_'+out
types={'sqlite':{'DateTime':'INTEGER','Str':'TEXT','Int':'INTEGER','Long':'INTEGER','Bool':'INTEGER','Type::Dynamic':'TEXT','Real':'REAL'},
       'postgres':{'DateTime':'BIGINT','Str':'TEXT','Int':'BIGINT','Long':'BIGINT','Bool':'BOOLEAN','Type::Dynamic':'TEXT','Real':'DOUBLE PRECISION'}}
# The tables of the first migration (shipped); later tables go to the second.
SHIPPED=['DeviceProcessEvents','DeviceNetworkEvents','DeviceFileEvents','DeviceLogonEvents','DeviceRegistryEvents',
         'DeviceInfo','EmailEvents','EmailAttachmentInfo','EmailUrlInfo','IdentityLogonEvents','AlertInfo','AlertEvidence']
all_tables=tables
for dialect,path,which in [('sqlite','crates/threatgate-store/migrations/sqlite-hunting/0001_tables.sql',True),
                           ('postgres','crates/threatgate-store/migrations/postgres/0003_hunting.sql',True),
                           ('sqlite','crates/threatgate-store/migrations/sqlite-hunting/0004_more_tables.sql',False),
                           ('postgres','crates/threatgate-store/migrations/postgres/0005_more_hunting_tables.sql',False)]:
    tables=[t for t in all_tables if (t[0] in SHIPPED)==which]
    out=["-- Advanced hunting (spec 7.3): one table per KQL table, columns named and typed as KQL names",
         "-- them (quoted, so the case stays). Datetimes are ticks (100 ns) since the Unix epoch; dynamic",
         "-- columns hold JSON text. Every row belongs to one tenant, and every query the KQL compiler",
         "-- writes filters on tenant_id; (tenant_id, Timestamp) serves the time range all hunting has.",
         "-- Generated from crates/threatgate-hunting/src/schema.rs; a store test checks that they agree.",""]
    if not which:
        out[0:0]=["-- Tables added to the advanced hunting schema after 0001 (DeviceEvents, CloudAppEvents, the","-- identity, vulnerability management and mail click tables). The tables without a Timestamp are","-- snapshots, indexed by device.",""]
    for name,const in tables:
        t=snake(name)
        cols=consts[const]
        out.append(f"CREATE TABLE {t} (")
        lines=["    tenant_id TEXT NOT NULL"]
        for cname,ctype in cols:
            null=" NOT NULL" if cname=="Timestamp" else ""
            lines.append(f'    "{cname}" {types[dialect][ctype]}{null}')
        out.append(",\n".join(lines))
        out.append(");")
        if any(cname=="Timestamp" for cname,_ in cols):
            out.append(f'CREATE INDEX {t}_by_time ON {t} (tenant_id, "Timestamp");')
        else:
            # A snapshot table (vulnerability management) has no time: by device instead.
            out.append(f'CREATE INDEX {t}_by_device ON {t} (tenant_id, "DeviceId");')
        out.append("")
    open(path,'w').write("\n".join(out))
print(len(all_tables), sum(len(v) for v in consts.values()))
