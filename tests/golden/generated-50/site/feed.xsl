<?xml version="1.0" encoding="UTF-8"?>
<!-- Shows the RSS feed as a page when it is opened in a browser; feed readers ignore it. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
  exclude-result-prefixes="atom dc">
<xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>
<xsl:template match="/rss/channel">
<html lang="{language}">
<head>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title><xsl:value-of select="title"/> (feed)</title>
<style>
body { margin: 0 auto; max-width: 40rem; padding: 1.5rem 1.2rem 3rem; font: 1.05rem/1.6 Georgia, 'Times New Roman', serif; color: #222; background: #fffdf8; }
.about { font-family: Helvetica, Arial, sans-serif; font-size: 0.9rem; background: #f3e6d8; padding: 0.8rem 1rem; border-radius: 6px; }
.about code { word-break: break-all; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 1.5rem 0 0.3rem; }
ol { list-style: none; padding: 0; }
li { padding: 0.8rem 0; border-bottom: 1px solid #e8dfd0; }
li a { font-size: 1.2rem; color: #1d1a16; }
.date { display: block; font-family: Helvetica, Arial, sans-serif; font-size: 0.85rem; color: #6b5d4b; }
@media (prefers-color-scheme: dark) { body { background: #211e1a; color: #ece6dc; } li a { color: #ece6dc; } .about { background: #3a2f25; } .date { color: #b8ab98; } }
</style>
</head>
<body>
<p class="about">This is a web feed. Copy its address into a feed reader to follow
<xsl:value-of select="title"/>: <code><xsl:value-of select="atom:link[@rel='self']/@href"/></code></p>
<h1><xsl:value-of select="title"/></h1>
<p><xsl:value-of select="description"/><xsl:text> </xsl:text><a href="{link}">Visit the site</a>.</p>
<ol>
<xsl:for-each select="item">
<li>
<a href="{link}"><xsl:value-of select="title"/></a>
<span class="date"><xsl:value-of select="substring(pubDate, 6, 11)"/><xsl:if test="dc:creator"> · <xsl:value-of select="dc:creator"/></xsl:if></span>
</li>
</xsl:for-each>
</ol>
</body>
</html>
</xsl:template>
</xsl:stylesheet>
