# agentpush Windows facts, format 1: reads only, prints one JSON line.
# Sent as powershell -NoProfile -NonInteractive -EncodedCommand (see
# include/agentpush/windows.h); keep it short: cmd.exe stops at 8191 chars.
$ErrorActionPreference='Stop'
$o=Get-CimInstance Win32_OperatingSystem
$cs=Get-CimInstance Win32_ComputerSystem
$d=Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='$($env:SystemDrive)'"
$l=(Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name LocalAccountTokenFilterPolicy -EA SilentlyContinue).LocalAccountTokenFilterPolicy
$cbs=Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
$wu=Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
$p=$null -ne (Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations -EA SilentlyContinue)
$u=[Security.Principal.WindowsIdentity]::GetCurrent().Name
[ordered]@{agentpush_windows_facts=1;caption=$o.Caption;version=$o.Version;build=[int]$o.BuildNumber;product_type=[int]$o.ProductType;arch=$o.OSArchitecture;is64=[Environment]::Is64BitOperatingSystem;system_drive=$env:SystemDrive;system_root=$env:SystemRoot;cpu=$env:PROCESSOR_ARCHITECTURE;system_free=[int64]$d.FreeSpace;mem_free=[int64]$o.FreePhysicalMemory*1024;mem_total=[int64]$o.TotalVisibleMemorySize*1024;latfp=$l;reboot=[ordered]@{cbs=$cbs;wu=$wu;pfro=$p};domain_joined=[bool]$cs.PartOfDomain;domain=$cs.Domain;user=$u;local_account=($u.Split('\')[0] -eq $env:COMPUTERNAME)}|ConvertTo-Json -Compress
