<?php

declare(strict_types=1);

namespace Cachekit\Internal;

/**
 * Turns one call's arguments into the list that forms its key, as the Python
 * wrapper does: named arguments go to their positions and omitted optional
 * parameters take their defaults, so `f(1)`, `f(1, 10)` and `f(a: 1)` share
 * an entry when 10 is the default of the second parameter.
 *
 * @internal
 */
final class ArgBinder
{
    /** @var list<string> */
    private array $names = [];

    /** @var list<array{0: bool, 1: mixed}> has a default, the default */
    private array $defaults = [];

    private bool $variadic = false;

    private int $count = 0;

    public function __construct(callable $fn)
    {
        $r = new \ReflectionFunction(\Closure::fromCallable($fn));
        foreach ($r->getParameters() as $p) {
            if ($p->isVariadic()) {
                $this->variadic = true;
                break;
            }
            $this->names[] = $p->getName();
            $has = $p->isDefaultValueAvailable();
            $this->defaults[] = [$has, $has ? $p->getDefaultValue() : null];
        }
        $this->count = \count($this->names);
    }

    /**
     * @param array<int|string, mixed> $args as collected by `...$args` (named ones under their names)
     *
     * @return list<mixed>
     */
    public function bind(array $args): array
    {
        $n = \count($args);
        if ($n === $this->count && array_is_list($args)) {
            return $args; // the plain positional call
        }
        $out = [];
        $named = [];
        foreach ($args as $k => $v) {
            if (\is_int($k)) {
                $out[] = $v;
            } else {
                $named[$k] = $v;
            }
        }
        for ($i = \count($out); $i < $this->count; $i++) {
            $name = $this->names[$i];
            if (\array_key_exists($name, $named)) {
                $out[] = $named[$name];
                unset($named[$name]);
            } elseif ($this->defaults[$i][0]) {
                $out[] = $this->defaults[$i][1];
            } else {
                break; // missing: the function's own call reports it
            }
        }
        if ($named !== [] && $this->variadic) {
            ksort($named);
            $out[] = $named; // named arguments caught by the variadic, as a map
        }
        return $out;
    }
}
