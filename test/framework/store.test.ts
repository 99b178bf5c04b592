import 'reflect-metadata'
import { expect } from 'chai'
import { Gateway } from '../../src/framework/decorators/gateway'
import { OnText } from '../../src/framework/decorators/handler-decorators'
import { Module } from '../../src/framework/decorators/module'
import { UseGuards } from '../../src/framework/decorators/use-guards'
import { getGatewayRecord, getGuards, getHandlerRecords, getModuleRecord } from '../../src/framework/store'

describe('metadata store', () => {
  it('keeps records on each class under symbols, not in a global registry', () => {
    @Gateway('/a')
    class A {
      @OnText() t() {}
    }
    @Gateway('/a')
    class B {}
    expect(getGatewayRecord(A)?.path).to.equal('/a')
    expect(getHandlerRecords(A)).to.have.length(1)
    expect(getHandlerRecords(B)).to.have.length(0)
    expect(Reflect.getOwnMetadataKeys(A).filter((k) => typeof k !== 'symbol')).to.deep.equal([])
  })

  it('freezes what @Gateway and @Module record, copying the arrays given', () => {
    const gateways: Function[] = []
    @Module({ gateways: gateways as never })
    class M {}
    @Gateway('/x', { protocols: ['p'] })
    class G {}
    gateways.push(G)
    expect(getModuleRecord(M)).to.be.frozen
    expect(getModuleRecord(M)?.gateways).to.deep.equal([])
    expect(getGatewayRecord(G)).to.be.frozen
    expect(getGatewayRecord(G)?.options).to.be.frozen
  })

  it('does not treat an undecorated subclass of a gateway as a gateway', () => {
    @Gateway('/base')
    class Base {}
    class Derived extends Base {}
    expect(getGatewayRecord(Derived)).to.equal(undefined)
  })

  it('keeps guards in the order they are written, across @UseGuards decorators and after a parent class', () => {
    const [a, b, c, d] = [() => true, () => true, () => true, () => true]
    @UseGuards(a)
    class Parent {}
    @UseGuards(b, c)
    @UseGuards(d)
    class Child extends Parent {}
    expect(getGuards(Child)).to.deep.equal([a, b, c, d])
    expect(getGuards(Parent)).to.deep.equal([a])
  })
})
