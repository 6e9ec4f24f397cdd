#!/usr/bin/perl
# Strict checks of a Prometheus text exposition (0.0.4) that promtool's
# parser does not make (promtool 2.42 accepts two samples of one series,
# label names starting with "__", and empty label values, which Prometheus
# takes for absent labels):
#   - every line is a HELP, TYPE, "# foundation: left out" comment or sample
#   - one HELP and one TYPE per family, before its samples; a sample's name
#     is its family's (plus _sum or _count for a summary)
#   - label names are valid, not reserved ("__"), unique in a sample; no
#     empty label value; quantile only on summary samples
#   - no two samples of one series (same name, same labels)
# Prints "series N left_out M" (series written: one per counter or gauge
# sample, one per summary) and exits 1 with the reasons on any violation.
use strict;
use warnings;

my $file = shift or die "usage: check.pl FILE\n";
open(my $fh, '<', $file) or die "cannot open $file: $!\n";

my (%help, %type, %seen);
my ($family, $ftype) = ('', '');
my ($series, $left_out, $errors) = (0, 0, 0);

sub fail { print "VIOLATION line $.: $_[0]\n"; $errors++; }

while (my $line = <$fh>)
{
	chomp $line;
	next if $line eq '';
	if ($line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) /)
	{
		fail("second HELP for $1") if $help{$1}++;
		$family = $1;
		$ftype = '';
		next;
	}
	if ($line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary)$/)
	{
		fail("second TYPE for $1") if $type{$1}++;
		fail("TYPE $1 without its HELP first") if $1 ne $family;
		$ftype = $2;
		next;
	}
	if ($line =~ /^# foundation: left out /)
	{
		$left_out++;
		next;
	}
	if ($line !~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/)
	{
		fail("malformed line: $line");
		next;
	}
	my ($name, $labels, $value) = ($1, $2 // '', $3);
	fail("bad value $value") unless $value =~ /^(?:[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN)$/;

	# parse the labels: name="value" pairs, values escaped
	my @pairs;
	my $rest = $labels;
	while ($rest ne '')
	{
		if ($rest =~ s/^([^=,"]*)="((?:[^"\\]|\\.)*)"(?:,|$)//)
		{
			push @pairs, [ $1, $2 ];
		}
		else
		{
			fail("unparsable labels {$labels}");
			last;
		}
	}
	my %names;
	my $quantile;
	for my $p (@pairs)
	{
		my ($ln, $lv) = @$p;
		fail("invalid label name '$ln'") unless $ln =~ /^[a-zA-Z_][a-zA-Z0-9_]*$/;
		fail("reserved label name '$ln'") if $ln =~ /^__/;
		fail("label '$ln' twice") if $names{$ln}++;
		fail("empty value for label '$ln' (same as no label)") if $lv eq '';
		$quantile = $lv if $ln eq 'quantile';
	}

	# the sample belongs to the current family
	my $base = $name;
	if ($ftype eq 'summary' && $name =~ /^(.*)_(?:sum|count)$/ && $1 eq $family)
	{
		$base = $1;
		fail("_sum/_count with a quantile label") if defined $quantile;
	}
	elsif ($ftype eq 'summary')
	{
		fail("summary sample without a quantile") unless defined $quantile;
		$series++ if defined $quantile && $quantile eq '0.5';
	}
	else
	{
		fail("quantile label outside a summary") if defined $quantile;
		$series++;
	}
	fail("sample $name outside its family (current: $family)") if $base ne $family || $ftype eq '';

	my $key = $name . '{' . join(',', sort map { "$_->[0]=\"$_->[1]\"" } @pairs) . '}';
	fail("duplicate series $key") if $seen{$key}++;
}
close($fh);
print "series $series left_out $left_out\n";
exit($errors > 0 ? 1 : 0);
